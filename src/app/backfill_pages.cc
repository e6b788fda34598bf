#include "app/backfill_pages.h"

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

namespace sluice::app {

std::string WatermarkContent(const Watermark& w) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> out(buffer);
  out.StartObject();
  out.Key("backfill");
  out.Uint64(w.backfill_id);
  out.Key("run");
  out.String(w.run.data(), static_cast<rapidjson::SizeType>(w.run.size()));
  out.Key("page");
  out.Uint64(w.page);
  out.Key("mark");
  out.String(w.high ? "high" : "low");
  out.Key("table_oid");
  out.Uint(w.table_oid);
  out.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize());
}

std::optional<Watermark> ParseWatermark(std::string_view content) {
  rapidjson::Document doc;
  doc.Parse(content.data(), content.size());
  if (doc.HasParseError() || !doc.IsObject()) return std::nullopt;
  auto u64 = [&](const char* key) -> std::optional<uint64_t> {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd() || !it->value.IsUint64()) return std::nullopt;
    return it->value.GetUint64();
  };
  auto str = [&](const char* key) -> std::optional<std::string> {
    auto it = doc.FindMember(key);
    if (it == doc.MemberEnd() || !it->value.IsString()) return std::nullopt;
    return std::string(it->value.GetString(), it->value.GetStringLength());
  };
  auto id = u64("backfill");
  auto page = u64("page");
  auto oid = u64("table_oid");
  auto run = str("run");
  auto mark = str("mark");
  if (!id || !page || !oid || !run || !mark || (*mark != "low" && *mark != "high") ||
      *oid > UINT32_MAX) {
    return std::nullopt;
  }
  return Watermark{*id, std::move(*run), *page, *mark == "high", static_cast<uint32_t>(*oid)};
}

void BackfillPages::Put(PageRows page) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(page.backfill_id, page.page);
  pages_[key] = std::move(page);
}

std::optional<PageRows> BackfillPages::Take(uint64_t backfill_id, uint64_t page) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pages_.find({backfill_id, page});
  if (it == pages_.end()) return std::nullopt;
  PageRows rows = std::move(it->second);
  pages_.erase(it);
  return rows;
}

void BackfillPages::Forget(uint64_t backfill_id, uint64_t page) {
  std::lock_guard<std::mutex> lock(mu_);
  pages_.erase({backfill_id, page});
  emitted_.erase({backfill_id, page});
}

void BackfillPages::Emitted(uint64_t backfill_id, uint64_t page, Lsn end_lsn, uint64_t reads,
                            bool redo) {
  std::lock_guard<std::mutex> lock(mu_);
  emitted_[{backfill_id, page}] = Emission{end_lsn, reads, redo};
}

std::optional<BackfillPages::Emission> BackfillPages::EmissionOf(uint64_t backfill_id,
                                                                 uint64_t page) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = emitted_.find({backfill_id, page});
  if (it == emitted_.end()) return std::nullopt;
  Emission e = it->second;
  emitted_.erase(it);
  return e;
}

}  // namespace sluice::app
