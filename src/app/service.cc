#include "app/service.h"

#include <algorithm>
#include <random>

#include "api/params.h"
#include "api/server.h"
#include "api/token.h"
#include "app/backfill_manager.h"
#include "app/clients.h"
#include "app/function_record_maker.h"
#include "app/router.h"
#include "app/service_control.h"
#include "base/log.h"
#include "base/thread_name.h"
#include "delivery/ack_tracker.h"
#include "delivery/sink_runner.h"
#include "sink/kinesis/client.h"
#include "source/replication_source.h"

namespace sluice::app {

struct Service::Database {
  const config::DatabaseSettings* settings = nullptr;
  delivery::AckTracker acks;
  std::vector<std::unique_ptr<kinesis::KinesisClient>> clients;
  std::vector<std::unique_ptr<delivery::SinkRunner>> runners;
  std::vector<const config::SinkSettings*> sink_settings;
  std::unique_ptr<BackfillManager> backfills;
  std::unique_ptr<Router> router;
  std::unique_ptr<source::ReplicationSource> source;
  std::thread thread;
};

namespace {

// How long a sender waits for a fuller batch while changes keep arriving
// (SinkRunnerOptions::linger): fewer, larger PutRecords requests under load
// (bench/: the per-request cost dominated at ~50 records a request), for at
// most this much added latency.
constexpr std::chrono::milliseconds kSenderLinger{5};

// Uniform [0,1) draws for retry jitter; one engine per sink, used under the
// sink's mutex.
std::function<double()> MakeJitterSource() {
  auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
  return [engine]() { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

}  // namespace

Service::Service(const config::Settings& settings, const Clock& clock)
    : settings_(settings),
      clock_(clock),
      budget_(static_cast<size_t>(settings.max_memory_mb) * 1024 * 1024) {}

Service::~Service() { Stop(); }

Result<std::unique_ptr<Service>> Service::Create(const config::Settings& settings,
                                                 const Clock& clock) {
  std::unique_ptr<Service> service(new Service(settings, clock));
  delivery::MessageStoreOptions store_options;
  store_options.data_dir = settings.data_dir;
  store_options.sync = settings.store_sync == config::StoreSync::kNormal
                           ? delivery::StoreSync::kNormal
                           : delivery::StoreSync::kFull;
  SLUICE_ASSIGN_OR_RETURN(service->store_, delivery::MessageStore::Open(store_options));
  SLUICE_ASSIGN_OR_RETURN(uint64_t max_id, service->store_->MaxId());
  service->next_message_id_.store(max_id);
  if (max_id > 0) {
    SLUICE_LOG_INFO("local store {}: messages stored by an earlier run are delivered first",
                    service->store_->path().string());
  }
  for (const auto& db_settings : settings.databases) {
    auto db = std::make_unique<Database>();
    db->settings = &db_settings;
    std::vector<RoutedSink> routed;
    for (const auto& sink : settings.sinks) {
      if (sink.database != db_settings.name) continue;
      if (sink.status == config::SinkStatus::kDisabled) {
        SLUICE_LOG_INFO("sink {} is disabled: it collects nothing", sink.name);
        continue;
      }
      SLUICE_ASSIGN_OR_RETURN(auto client, MakeSinkClient(sink, clock));

      delivery::SinkRunnerOptions options;
      options.sink_name = sink.name;
      options.stream = sink.destination.stream;
      options.batch_size = static_cast<size_t>(sink.batch_size);
      options.max_in_flight = sink.max_in_flight;
      options.linger = kSenderLinger;
      options.retry.max_retry_count = sink.max_retry_count;
      options.encode.database_name = db_settings.name;
      options.encode.consumer_name = sink.name;
      options.encode.timestamp_style = sink.timestamp_format == config::TimestampFormat::kIso8601
                                           ? model::TimestampStyle::kIso8601
                                           : model::TimestampStyle::kUnixMicrosecond;
      options.make_record_maker = SinkRecordMakers(settings, sink, options.encode);
      options.deliver = sink.status != config::SinkStatus::kPaused;
      options.store = service->store_.get();
      options.spill_after = settings.spill_after;
      options.metrics = &service->registry_;
      auto summary = client->DescribeStream(sink.destination.stream);
      if (summary.ok()) {
        options.max_record_bytes = summary->max_record_bytes;
        SLUICE_LOG_INFO("sink {}: stream {} is {} with {} open shards, max record size {} bytes{}",
                        sink.name, sink.destination.stream.arn, summary->status,
                        summary->open_shard_count, summary->max_record_bytes,
                        summary->from_describe_stream ? " (DescribeStream fallback)" : "");
      } else {
        SLUICE_LOG_WARN(
            "sink {}: {}; assuming the default 1 MiB record size and retrying deliveries",
            sink.name, summary.error().message());
      }
      auto runner = std::make_unique<delivery::SinkRunner>(
          std::move(options), *client, db->acks, service->budget_, clock, MakeJitterSource());
      routed.push_back({&sink, runner.get()});
      db->sink_settings.push_back(&sink);
      db->clients.push_back(std::move(client));
      db->runners.push_back(std::move(runner));
    }
    if (routed.empty()) {
      SLUICE_LOG_INFO("database {}: no active sink; not reading it", db_settings.name);
      continue;
    }
    std::vector<BackfillManager::Sink> backfill_sinks;
    for (const auto& r : routed) backfill_sinks.push_back({r.settings, r.runner});
    Database* raw_db = db.get();
    db->backfills = std::make_unique<BackfillManager>(
        db_settings, std::move(backfill_sinks), *service->store_, db->acks, service->budget_, clock,
        [raw_db] { return raw_db->source && raw_db->source->streaming(); });
    db->router = std::make_unique<Router>(std::move(routed), db->acks, service->budget_,
                                          service->next_message_id_, &db->backfills->pages());
    // Status updates every second keep the slot (and the server's WAL) close
    // behind what is delivered; each is a 34-byte message.
    source::ReplicationOptions source_options;
    source_options.status_interval = std::chrono::seconds(1);
    db->source = std::make_unique<source::ReplicationSource>(db_settings, *db->router, clock,
                                                             source_options);
    service->databases_.push_back(std::move(db));
  }
  if (service->databases_.empty()) {
    return Error(ErrorCode::kConfig, "no sink is active or paused: nothing to run");
  }
  std::vector<ControlledSink> controlled;
  for (auto& db : service->databases_) {
    for (auto& runner : db->runners) {
      controlled.push_back(
          {db->settings->name, runner.get(), &db->acks, db->source.get(), db->backfills.get()});
    }
  }
  service->control_ =
      std::make_unique<ServiceControl>(std::move(controlled), service->registry_, clock);
  SLUICE_ASSIGN_OR_RETURN(api::ResolvedToken token, api::ResolveApiToken(settings, true));
  if (token.created) {
    SLUICE_LOG_INFO("API token created in {} (the CLI and the console use it)", token.source);
  } else {
    SLUICE_LOG_INFO("API token from {}", token.source);
  }
  api::ServerOptions server_options;
  server_options.listen = settings.api.listen;
  server_options.token = std::move(token.token);
  service->server_ = std::make_unique<api::Server>(*service->control_, std::move(server_options));
  return service;
}

Status Service::Start() {
  // The API first: an address in use fails the start before anything runs.
  SLUICE_RETURN_IF_ERROR(server_->Start());
  SLUICE_LOG_INFO("API, metrics and console on http://{}", settings_.api.listen);
  {
    const std::string& listen = settings_.api.listen;
    if (!api::IsLoopbackHost(listen.substr(0, listen.rfind(':')))) {
      SLUICE_LOG_WARN(
          "api.listen {} is not a loopback address: the API, /metrics and the console are "
          "reachable from the network over plain HTTP; put a TLS proxy in front and keep the "
          "token long",
          listen);
    }
  }
  for (auto& db : databases_) {
    for (size_t i = 0; i < db->runners.size(); ++i) {
      if (db->sink_settings[i]->status == config::SinkStatus::kPaused) {
        SLUICE_LOG_INFO("sink {} is paused: it collects changes into the local store",
                        db->sink_settings[i]->name);
      }
      SLUICE_RETURN_IF_ERROR(db->runners[i]->Start());
    }
    Database* raw = db.get();
    db->thread = std::thread([this, raw] {
      NameThisThread("source:" + raw->settings->name);
      Status st = raw->source->Run();
      if (!st.ok()) {
        SLUICE_LOG_ERROR("database {}: {}", raw->settings->name, st.error().message());
      }
      OnSourceExit(st);
    });
    SLUICE_RETURN_IF_ERROR(db->backfills->Start());
  }
  return OkStatus();
}

int Service::api_port() const { return server_ ? server_->port() : 0; }

void Service::OnSourceExit(const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!status.ok() && !fatal_) fatal_ = status.error();
  finished_ = true;
  cv_.notify_all();
}

void Service::RequestStop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_requested_ = true;
  }
  cv_.notify_all();
}

Status Service::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return finished_ || stop_requested_; });
  if (fatal_) return *fatal_;
  return OkStatus();
}

bool Service::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return stop_clean_;
    stopped_ = true;
  }
  // 0. The API first: no operator action races the shutdown.
  if (server_) server_->Stop();
  // Backfills read no more pages (pages read and not complete are read
  // again after a restart).
  for (auto& db : databases_) {
    if (db->backfills) db->backfills->Stop();
  }
  // 1. Let in-flight requests finish so their outcomes count, within the
  //    deadline; messages bound for the store are written.
  const auto deadline = clock_.Now() + settings_.shutdown_timeout;
  bool clean = true;
  for (auto& db : databases_) {
    for (auto& runner : db->runners) {
      const auto left =
          std::max(std::chrono::milliseconds(0),
                   std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.Now()));
      clean = runner->Stop(left) && clean;
    }
  }
  // 2. Sources send a last status with the acknowledged LSN and disconnect.
  for (auto& db : databases_) {
    if (db->source) db->source->Stop();
    if (db->thread.joinable()) db->thread.join();
    SLUICE_LOG_INFO("database {}: stopped; acknowledged LSN {}", db->settings->name,
                    db->acks.Acknowledged().ToString());
  }
  std::lock_guard<std::mutex> lock(mu_);
  stop_clean_ = clean;
  return clean;
}

}  // namespace sluice::app
