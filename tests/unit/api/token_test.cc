#include "api/token.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "support/temp_dir.h"

namespace sluice::api {
namespace {

namespace fs = std::filesystem;

// Sets (or unsets) SLUICE_API_TOKEN for one test and restores it after.
class ScopedTokenEnv {
 public:
  explicit ScopedTokenEnv(const char* value) {
    if (const char* old = std::getenv(kTokenEnvVar)) saved_ = old;
    if (value != nullptr) {
      setenv(kTokenEnvVar, value, 1);
    } else {
      unsetenv(kTokenEnvVar);
    }
  }
  ~ScopedTokenEnv() {
    if (saved_) {
      setenv(kTokenEnvVar, saved_->c_str(), 1);
    } else {
      unsetenv(kTokenEnvVar);
    }
  }

 private:
  std::optional<std::string> saved_;
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

class ResolveApiTokenTest : public ::testing::Test {
 protected:
  ResolveApiTokenTest() : env_(nullptr) { settings_.data_dir = (dir_.path() / "data").string(); }
  fs::path TokenPath() const { return dir_.path() / "data" / kTokenFileName; }

  testing_support::TempDir dir_;
  ScopedTokenEnv env_;
  config::Settings settings_;
};

TEST_F(ResolveApiTokenTest, ConfigTokenWins) {
  ScopedTokenEnv env("from-env");
  settings_.api.token = Secret("from-config");
  auto token = ResolveApiToken(settings_, /*create=*/true);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->token.Reveal(), "from-config");
  EXPECT_EQ(token->source, "config api.token");
  EXPECT_FALSE(token->created);
  EXPECT_FALSE(fs::exists(TokenPath()));
}

TEST_F(ResolveApiTokenTest, EnvironmentComesNext) {
  ScopedTokenEnv env("from-env");
  WriteFile(dir_.path() / "unused", "");
  auto token = ResolveApiToken(settings_, /*create=*/true);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->token.Reveal(), "from-env");
  EXPECT_EQ(token->source, "environment SLUICE_API_TOKEN");
  EXPECT_FALSE(fs::exists(TokenPath()));
}

TEST_F(ResolveApiTokenTest, EmptyEnvironmentVariableCountsAsUnset) {
  ScopedTokenEnv env("");
  auto token = ResolveApiToken(settings_, /*create=*/false);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().code(), ErrorCode::kNotFound);
}

TEST_F(ResolveApiTokenTest, EnvironmentTokenWithSpacesIsRefused) {
  ScopedTokenEnv env("two words");
  auto token = ResolveApiToken(settings_, /*create=*/true);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().code(), ErrorCode::kConfig);
  EXPECT_EQ(token.error().message().find("two words"), std::string::npos);
}

TEST_F(ResolveApiTokenTest, CreatesAPrivateFileOf64HexCharactersAndReusesIt) {
  auto first = ResolveApiToken(settings_, /*create=*/true);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->source, TokenPath().string());
  const std::string& token = first->token.Reveal();
  ASSERT_EQ(token.size(), 64u);
  EXPECT_EQ(token.find_first_not_of("0123456789abcdef"), std::string::npos) << token;
  EXPECT_EQ(ReadFile(TokenPath()), token + "\n");
  struct stat st {};
  ASSERT_EQ(stat(TokenPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(TokenPath().string() + ".tmp"));

  auto second = ResolveApiToken(settings_, /*create=*/true);
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(second->created);
  EXPECT_EQ(second->token.Reveal(), token);
  auto without_create = ResolveApiToken(settings_, /*create=*/false);
  ASSERT_TRUE(without_create.ok());
  EXPECT_EQ(without_create->token.Reveal(), token);
}

TEST_F(ResolveApiTokenTest, TwoCreationsDrawDifferentTokens) {
  auto first = ResolveApiToken(settings_, /*create=*/true);
  ASSERT_TRUE(first.ok());
  fs::remove(TokenPath());
  auto second = ResolveApiToken(settings_, /*create=*/true);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(first->token.Reveal(), second->token.Reveal());
}

TEST_F(ResolveApiTokenTest, MissingFileWithoutCreateIsNotFoundNamingThePath) {
  auto token = ResolveApiToken(settings_, /*create=*/false);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().code(), ErrorCode::kNotFound);
  EXPECT_NE(token.error().message().find(TokenPath().string()), std::string::npos)
      << token.error().message();
  EXPECT_FALSE(fs::exists(TokenPath()));
}

TEST_F(ResolveApiTokenTest, ReadsAFileWrittenByHandWithOrWithoutNewline) {
  fs::create_directories(TokenPath().parent_path());
  WriteFile(TokenPath(), "hand-made-token");
  auto token = ResolveApiToken(settings_, /*create=*/false);
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(token->token.Reveal(), "hand-made-token");
  WriteFile(TokenPath(), "hand-made-token\n");
  EXPECT_EQ(ResolveApiToken(settings_, false)->token.Reveal(), "hand-made-token");
}

TEST_F(ResolveApiTokenTest, MalformedFileIsRefusedNotTrimmed) {
  fs::create_directories(TokenPath().parent_path());
  for (const char* content :
       {"", "\n", "two words\n", "line1\nline2\n", " padded\n", "tok\r\n", "tok\n\n"}) {
    SCOPED_TRACE(::testing::PrintToString(std::string(content)));
    WriteFile(TokenPath(), content);
    auto token = ResolveApiToken(settings_, /*create=*/true);
    ASSERT_FALSE(token.ok());
    EXPECT_EQ(token.error().code(), ErrorCode::kIo);
    EXPECT_NE(token.error().message().find(TokenPath().string()), std::string::npos);
    EXPECT_EQ(ReadFile(TokenPath()), content);  // left as it was
  }
}

TEST_F(ResolveApiTokenTest, UnwritableDataDirIsAnIoError) {
  WriteFile(dir_.path() / "data", "a file where the directory should be");
  auto token = ResolveApiToken(settings_, /*create=*/true);
  ASSERT_FALSE(token.ok());
  EXPECT_EQ(token.error().code(), ErrorCode::kIo);
}

TEST(TokenMatches, OnlyTheExactTokenMatches) {
  const Secret expected("0123456789abcdef");
  EXPECT_TRUE(TokenMatches(expected, "0123456789abcdef"));
  EXPECT_FALSE(TokenMatches(expected, "0123456789abcdee"));   // last character
  EXPECT_FALSE(TokenMatches(expected, "0123456789abcde"));    // shorter
  EXPECT_FALSE(TokenMatches(expected, "0123456789abcdef0"));  // longer
  EXPECT_FALSE(TokenMatches(expected, "1123456789abcdef"));   // first character
  EXPECT_FALSE(TokenMatches(expected, ""));
}

TEST(TokenMatches, EmptyExpectedTokenMatchesNothing) {
  EXPECT_FALSE(TokenMatches(Secret(""), ""));
  EXPECT_FALSE(TokenMatches(Secret(""), "x"));
}

}  // namespace
}  // namespace sluice::api
