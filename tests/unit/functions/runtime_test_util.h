// Helpers shared by the functions/ runtime tests.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "functions/runtime.h"

namespace sluice::functions {

constexpr std::string_view kMessage =
    R"({"record":{"id":7,"type":"order","status":"paid","total":199.99,)"
    R"("amount":123456789012345678901234567890,"price":"12.50","note":null,)"
    R"("tags":[],"attrs":{},"doc":{"a":[1,2,{"b":null}]},"big":9223372036854775807,)"
    R"("small":-9223372036854775808,"ratio":0.1,"exact":1.10,"name":"zoë 🚀"},)"
    R"("changes":{"status":"pending"},"action":"update",)"
    R"("metadata":{"table_schema":"public","table_name":"orders","commit_lsn":24023128,)"
    R"("record_pks":["7"],"transaction_annotations":null,"consumer":{"name":"kinesis-sink"}}})";

inline config::FunctionSettings Fn(std::string name, std::string type, std::string code) {
  config::FunctionSettings f;
  f.name = std::move(name);
  f.type = std::move(type);
  f.code = std::move(code);
  return f;
}

inline std::unique_ptr<FunctionRuntime> MakeRuntime(std::vector<config::FunctionSettings> fns,
                                                    Limits limits = {}) {
  RuntimeOptions options;
  options.limits = limits;
  options.default_stream =
      config::StreamArn::Parse("arn:aws:kinesis:eu-west-1:123456789012:stream/default", nullptr);
  auto r = FunctionRuntime::Create(fns, options);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? std::move(r).value() : nullptr;
}

// Runs `body` as a transform (`function transform(action, record, changes,
// metadata) <body> end`) on kMessage.
inline Result<std::string> RunTransform(const std::string& body, Limits limits = {}) {
  auto rt = MakeRuntime(
      {Fn("t", "transform",
          "function transform(action, record, changes, metadata)\n" + body + "\nend\n")},
      limits);
  if (!rt) return Error(ErrorCode::kInternal, "no runtime");
  return rt->Transform("t", kMessage);
}

inline std::string TransformOk(const std::string& body) {
  auto r = RunTransform(body);
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? *r : "";
}

inline void ExpectError(const Result<std::string>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok()) << "unexpected success: " << *r;
  EXPECT_NE(r.error().message().find(needle), std::string::npos) << r.error().message();
}

}  // namespace sluice::functions
