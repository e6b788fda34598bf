// Test helper: asserts that text is one complete, valid JSON document.
#pragma once

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <string>

namespace sluice::model::testing {

inline ::testing::AssertionResult IsValidJson(const std::string& text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  if (doc.HasParseError()) {
    return ::testing::AssertionFailure()
           << "invalid JSON at offset " << doc.GetErrorOffset() << ": "
           << rapidjson::GetParseError_En(doc.GetParseError()) << " in: " << text;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace sluice::model::testing
