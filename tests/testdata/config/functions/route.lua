function route(action, record, changes, metadata)
  return { stream_arn = "arn:aws:kinesis:us-east-1:123456789012:stream/" .. record.type .. "-events" }
end
