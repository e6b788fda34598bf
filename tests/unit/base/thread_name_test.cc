#include "base/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

namespace sluice {
namespace {

std::string NameOf(std::string_view given) {
  std::string seen;
  std::thread([&] {
    NameThisThread(given);
    char buf[64] = {};
    pthread_getname_np(pthread_self(), buf, sizeof buf);
    seen = buf;
  }).join();
  return seen;
}

TEST(ThreadName, NamesTheCallingThread) { EXPECT_EQ(NameOf("send:orders"), "send:orders"); }

TEST(ThreadName, CutsNamesToTheFifteenBytesLinuxKeeps) {
  EXPECT_EQ(NameOf("send:a-sink-with-a-long-name"), "send:a-sink-wit");
}

}  // namespace
}  // namespace sluice
