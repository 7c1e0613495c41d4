// GET /metrics: every line checked against the Prometheus text format (0.0.4) grammar,
// counters read back after real events went through the real Ingestor.
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "live/metrics.hpp"
#include "progressista/ingest.hpp"
#include "progressista/store.hpp"
#include "support/route_request.hpp"
#include "support/segment_fixture.hpp"

namespace progressista {
namespace {

using daemon::ApiContext;
using daemon::BroadcastStats;
using daemon::Cors;
using daemon::DurationHistogram;
using daemon::HttpResponse;
using daemon::MetricsRoutes;
using daemon::PromText;
using ::testing::IsEmpty;
using testing::response_header;
using testing::RouteRequest;

// A parsed exposition: every series by "name{l1=\"v1\",...}" (labels sorted, values
// unescaped), and every way the text breaks the format.
struct Exposition {
  std::map<std::string, double> series;
  std::map<std::string, std::string> types;  // family -> type
  std::vector<std::string> errors;

  [[nodiscard]] bool has(const std::string& key) const { return series.count(key) != 0; }
  [[nodiscard]] double at(const std::string& key) const {
    const auto it = series.find(key);
    return it == series.end() ? std::nan("") : it->second;
  }
};

bool metric_name_ok(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool label_name_ok(std::string_view s) {
  return metric_name_ok(s) && s.find(':') == std::string_view::npos;
}

// Go's ParseFloat as Prometheus uses it: decimal or exponent form, NaN, +Inf, -Inf.
bool parse_value(std::string_view s, double& out) {
  if (s == "NaN") return out = std::nan(""), true;
  if (s == "+Inf" || s == "Inf") return out = INFINITY, true;
  if (s == "-Inf") return out = -INFINITY, true;
  if (s.empty() || s.find_first_not_of("0123456789+-.eE") != std::string_view::npos) return false;
  const std::string text(s);
  char* end = nullptr;
  out = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

Exposition parse_exposition(std::string_view text) {
  Exposition e;
  std::set<std::string> helped, closed;
  std::string current;  // the family whose samples are being read
  const auto fail = [&](std::size_t line, const std::string& what) {
    e.errors.push_back(fmt::format("line {}: {}", line, what));
  };
  const auto family_of = [&](const std::string& name) -> std::string {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (name.ends_with(suffix)) {
        const std::string base = name.substr(0, name.size() - suffix.size());
        const auto it = e.types.find(base);
        if (it != e.types.end() && it->second == "histogram") return base;
      }
    }
    return name;
  };
  if (!text.empty() && !text.ends_with('\n')) e.errors.push_back("no newline at the end");

  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) nl = text.size();
    const std::string_view line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) continue;

    if (line.starts_with('#')) {
      // "# HELP name text" / "# TYPE name type"; any other comment is allowed.
      const bool help = line.starts_with("# HELP "), type = line.starts_with("# TYPE ");
      if (!help && !type) continue;
      const std::string_view rest = line.substr(7);
      const std::size_t sp = rest.find(' ');
      const std::string name(rest.substr(0, sp));
      const std::string_view arg = sp == std::string_view::npos ? "" : rest.substr(sp + 1);
      if (!metric_name_ok(name)) fail(line_no, "bad metric name in " + std::string(line));
      if (closed.count(name) || (!current.empty() && current != name && e.types.count(name))) {
        fail(line_no, "metadata after the samples of " + name);
      }
      if (help) {
        if (!helped.insert(name).second) fail(line_no, "second HELP for " + name);
        for (std::size_t i = 0; i < arg.size(); ++i) {
          if (arg[i] == '\\' &&
              (i + 1 >= arg.size() || (arg[i + 1] != '\\' && arg[i + 1] != 'n'))) {
            fail(line_no, "bad escape in HELP");
          }
          if (arg[i] == '\\') ++i;
        }
      } else {
        static const std::set<std::string_view> kTypes = {"counter", "gauge", "histogram",
                                                          "summary", "untyped"};
        if (!kTypes.count(arg)) fail(line_no, "unknown type " + std::string(arg));
        if (!e.types.emplace(name, std::string(arg)).second)
          fail(line_no, "second TYPE for " + name);
      }
      if (current != name && !current.empty()) closed.insert(current);
      current = name;
      continue;
    }

    // name [{labels}] value [timestamp]
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    const std::string name(line.substr(0, i));
    if (!metric_name_ok(name)) {
      fail(line_no, "bad metric name: " + std::string(line));
      continue;
    }
    std::map<std::string, std::string> labels;
    bool ok = true;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (ok && i < line.size() && line[i] != '}') {
        const std::size_t eq = line.find('=', i);
        if (eq == std::string_view::npos) {
          ok = false;
          break;
        }
        const std::string lname(line.substr(i, eq - i));
        if (!label_name_ok(lname) || eq + 1 >= line.size() || line[eq + 1] != '"') {
          ok = false;
          break;
        }
        std::string value;
        std::size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] != '\\') {
            value.push_back(line[j]);
            continue;
          }
          if (++j >= line.size()) break;
          if (line[j] == '\\' || line[j] == '"') {
            value.push_back(line[j]);
          } else if (line[j] == 'n') {
            value.push_back('\n');
          } else {
            ok = false;
          }
        }
        if (j >= line.size()) {
          ok = false;
          break;
        }
        if (!labels.emplace(lname, value).second) ok = false;
        i = j + 1;
        if (i < line.size() && line[i] == ',') ++i;
      }
      if (!ok || i >= line.size()) {
        fail(line_no, "bad labels: " + std::string(line));
        continue;
      }
      ++i;  // '}'
    }
    if (i >= line.size() || line[i] != ' ') {
      fail(line_no, "no value: " + std::string(line));
      continue;
    }
    std::string_view rest = line.substr(i + 1);
    const std::size_t sp = rest.find(' ');
    double value = 0;
    if (!parse_value(rest.substr(0, sp), value)) fail(line_no, "bad value: " + std::string(line));
    if (sp != std::string_view::npos) {
      const std::string_view ts = rest.substr(sp + 1);
      if (ts.empty() || ts.find_first_not_of("-0123456789") != std::string_view::npos) {
        fail(line_no, "bad timestamp: " + std::string(line));
      }
    }

    const std::string family = family_of(name);
    if (!e.types.count(family)) fail(line_no, "sample of an undeclared family: " + name);
    if (!helped.count(family)) fail(line_no, "sample before HELP: " + name);
    if (closed.count(family)) fail(line_no, "family split in two: " + family);
    if (family != current) {
      if (!current.empty()) closed.insert(current);
      current = family;
    }
    const auto type = e.types.find(family);
    if (type != e.types.end() && type->second != "histogram" && name != family) {
      fail(line_no, "suffix on a " + type->second + ": " + name);
    }
    if (type != e.types.end() && type->second == "histogram" && name == family) {
      fail(line_no, "histogram sample without a suffix: " + name);
    }
    if (name.ends_with("_bucket") && family != name && !labels.count("le")) {
      fail(line_no, "bucket without le: " + std::string(line));
    }
    std::string key = name;
    if (!labels.empty()) {
      key += '{';
      bool first = true;
      for (const auto& [k, v] : labels) {
        if (!first) key += ',';
        first = false;
        key += fmt::format("{}=\"{}\"", k, v);
      }
      key += '}';
    }
    if (!e.series.emplace(key, value).second) fail(line_no, "duplicate series " + key);
  }

  // Histograms: buckets by ascending le, cumulative, ending at +Inf == _count, with a _sum.
  for (const auto& [family, type] : e.types) {
    if (type != "histogram") continue;
    std::vector<std::pair<double, double>> buckets;
    const std::string prefix = family + "_bucket{le=\"";
    for (const auto& [key, value] : e.series) {
      if (!key.starts_with(prefix)) continue;
      double le = 0;
      const std::string bound = key.substr(prefix.size(), key.size() - prefix.size() - 2);
      if (!parse_value(bound, le)) e.errors.push_back("bad le " + key);
      buckets.emplace_back(le, value);
    }
    std::sort(buckets.begin(), buckets.end());
    if (buckets.empty() || !std::isinf(buckets.back().first)) {
      e.errors.push_back(family + ": no +Inf bucket");
      continue;
    }
    for (std::size_t k = 1; k < buckets.size(); ++k) {
      if (buckets[k].second < buckets[k - 1].second)
        e.errors.push_back(family + ": not cumulative");
    }
    if (!e.has(family + "_count") || e.at(family + "_count") != buckets.back().second) {
      e.errors.push_back(family + ": _count differs from the +Inf bucket");
    }
    if (!e.has(family + "_sum")) e.errors.push_back(family + ": no _sum");
  }
  return e;
}

class MetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = Store::open(testing::options(seg_, 16));
    ctx_ =
        std::make_unique<ApiContext>(ApiContext{*store_, TokenSet{}, Cors({}), Role::kBroadcast});
  }

  Exposition scrape(const BroadcastStats* stats) {
    HttpResponse response;
    daemon::metrics_response(*store_, stats, response);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.content_type, "text/plain; version=0.0.4; charset=utf-8");
    Exposition e = parse_exposition(response.body);
    EXPECT_THAT(e.errors, IsEmpty()) << response.body;
    return e;
  }

  int post(std::string_view json, double now = 1795428000.0) {
    PaddedBody body;
    body.assign(json);
    Ingestor ingestor(*store_);
    fmt::memory_buffer out;
    return ingestor.apply(body.view(), body.capacity(), BodyFormat::kJson, now, out);
  }

  testing::ScopedSegmentName seg_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ApiContext> ctx_;
  BroadcastStats stats_;
};

TEST_F(MetricsTest, ExpositionFollowsTheTextFormat) {
  stats_.tick_duration.observe(0.003);
  const Exposition e = scrape(&stats_);
  for (const char* family :
       {"progressista_build_info", "progressista_tasks", "progressista_task_capacity",
        "progressista_events_total", "progressista_rejected_total", "progressista_evictions_total",
        "progressista_lock_recoveries_total", "progressista_ingest_alive",
        "progressista_ingest_heartbeat_age_seconds", "progressista_ws_clients",
        "progressista_frames_sent_total", "progressista_bytes_sent_total",
        "progressista_slow_consumer_coalesced_total",
        "progressista_slow_consumer_disconnects_total", "progressista_ws_rejected_auth_total",
        "progressista_tick_duration_seconds"}) {
    EXPECT_TRUE(e.types.count(family)) << family;
  }
  EXPECT_EQ(e.types.at("progressista_tick_duration_seconds"), "histogram");
  EXPECT_EQ(e.types.at("progressista_events_total"), "counter");
  EXPECT_EQ(e.types.at("progressista_tasks"), "gauge");
  EXPECT_EQ(e.at(fmt::format("progressista_build_info{{version=\"{}\"}}", PROGRESSISTA_VERSION)),
            1);
}

TEST_F(MetricsTest, EveryStatusAndEveryRejectionReasonIsListedEvenAtZero) {
  const Exposition e = scrape(nullptr);
  for (const char* s : {"start", "update", "close", "error", "stale", "recovered"}) {
    EXPECT_EQ(e.at(fmt::format("progressista_tasks{{status=\"{}\"}}", s)), 0) << s;
  }
  for (const char* r :
       {"table_full", "malformed_json", "validation", "too_large", "unsupported_media", "auth",
        "not_found", "method", "timeout", "bad_request", "overload", "framing"}) {
    EXPECT_EQ(e.at(fmt::format("progressista_rejected_total{{reason=\"{}\"}}", r)), 0) << r;
  }
  EXPECT_EQ(e.at("progressista_task_capacity"), 16);
}

// The memory budget's gauges follow TaskTable::memory().
TEST_F(MetricsTest, MemoryGaugesReportTheBudgetBlocksAndFinishedTasks) {
  ASSERT_EQ(post(R"({"task_id":"a","n":1})"), 200);
  ASSERT_EQ(post(R"({"task_id":"b","status":"close"})"), 200);
  ASSERT_EQ(post(R"({"task_id":"c","status":"error"})"), 200);
  const Exposition e = scrape(nullptr);
  const MemoryUse m = store_->table().memory();
  for (const char* family : {"progressista_memory_budget_bytes", "progressista_record_blocks",
                             "progressista_record_blocks_free", "progressista_tasks_finished"}) {
    ASSERT_TRUE(e.types.count(family)) << family;
    EXPECT_EQ(e.types.at(family), "gauge") << family;
  }
  EXPECT_EQ(e.at("progressista_memory_budget_bytes"), static_cast<double>(m.budget_bytes));
  EXPECT_EQ(e.at("progressista_memory_budget_bytes"), static_cast<double>(store_->segment().size()));
  EXPECT_EQ(e.at("progressista_record_blocks"), static_cast<double>(m.blocks));
  EXPECT_EQ(e.at("progressista_record_blocks_free"), static_cast<double>(m.free_blocks));
  EXPECT_LT(m.free_blocks, m.blocks);
  EXPECT_EQ(e.at("progressista_tasks_finished"), 2);
  EXPECT_EQ(e.at("progressista_task_capacity"), 16);
}

TEST_F(MetricsTest, CountersMoveWithIngestedAndRejectedEvents) {
  const Exposition before = scrape(nullptr);
  ASSERT_EQ(post(R"({"task_id":"a","n":1,"timestamp":100})"), 200);
  ASSERT_EQ(post(R"({"task_id":"a","n":2,"timestamp":99})"), 200);  // out of order
  ASSERT_EQ(post(R"({"task_id":"b","status":"close"})"), 200);
  ASSERT_EQ(post(R"({"task_id":"b","n":5})"), 200);  // b is closed
  ASSERT_EQ(post(R"({"task_id":"c","status":"error"})"), 200);
  ASSERT_EQ(post(R"({"task_id":"d","n":"three"})"), 422);  // invalid
  ASSERT_EQ(post(R"({"task_id":)"), 400);                  // not JSON
  const Exposition after = scrape(nullptr);
  const auto delta = [&](const std::string& key) { return after.at(key) - before.at(key); };
  EXPECT_EQ(delta("progressista_events_total{result=\"applied\"}"), 3);
  EXPECT_EQ(delta("progressista_events_total{result=\"ignored_out_of_order\"}"), 1);
  EXPECT_EQ(delta("progressista_events_total{result=\"ignored_closed\"}"), 1);
  EXPECT_EQ(delta("progressista_rejected_total{reason=\"validation\"}"), 1);
  EXPECT_EQ(delta("progressista_rejected_total{reason=\"malformed_json\"}"), 1);
  EXPECT_EQ(delta("progressista_tasks_created_total"), 3);
  EXPECT_EQ(delta("progressista_tasks_closed_total"), 1);
  EXPECT_EQ(delta("progressista_tasks_failed_total"), 1);
  EXPECT_EQ(after.at("progressista_tasks{status=\"update\"}"), 1);
  EXPECT_EQ(after.at("progressista_tasks{status=\"close\"}"), 1);
  EXPECT_EQ(after.at("progressista_tasks{status=\"error\"}"), 1);
  EXPECT_EQ(after.at("progressista_tasks{status=\"start\"}"), 0);
}

TEST_F(MetricsTest, EvictionsAreCounted) {
  // 16 slots: fill with closed tasks, then one more evicts the oldest.
  for (int i = 0; i < 16; ++i) {
    ASSERT_EQ(post(fmt::format(R"({{"task_id":"t{}","status":"close"}})", i)), 200);
  }
  ASSERT_EQ(post(R"({"task_id":"one-more"})"), 200);
  EXPECT_EQ(scrape(nullptr).at("progressista_evictions_total"), 1);
}

TEST_F(MetricsTest, WithoutBroadcastStatsTheirFamiliesAreLeftOut) {
  const Exposition e = scrape(nullptr);
  for (const auto& [family, type] : e.types) {
    EXPECT_FALSE(family.starts_with("progressista_ws_") ||
                 family.starts_with("progressista_tick") ||
                 family.starts_with("progressista_frames") ||
                 family.starts_with("progressista_slow_consumer"))
        << family;
  }
}

TEST_F(MetricsTest, BroadcastStatsAreReported) {
  stats_.connected(BroadcastStats::Protocol::kProgressista);
  stats_.connected(BroadcastStats::Protocol::kProgressista);
  stats_.connected(BroadcastStats::Protocol::kSse);
  stats_.connected(BroadcastStats::Protocol::kDelta);
  stats_.disconnected(BroadcastStats::Protocol::kDelta);
  stats_.sent(100);
  stats_.sent(23);
  stats_.coalesced += 4;
  stats_.slow_disconnects += 2;
  stats_.ws_rejected_auth += 1;
  const Exposition e = scrape(&stats_);
  EXPECT_EQ(e.at("progressista_ws_clients{protocol=\"progressista\"}"), 2);
  EXPECT_EQ(e.at("progressista_ws_clients{protocol=\"delta\"}"), 0);
  EXPECT_EQ(e.at("progressista_ws_clients{protocol=\"sse\"}"), 1);
  EXPECT_EQ(e.at("progressista_frames_sent_total"), 2);
  EXPECT_EQ(e.at("progressista_bytes_sent_total"), 123);
  EXPECT_EQ(e.at("progressista_slow_consumer_coalesced_total"), 4);
  EXPECT_EQ(e.at("progressista_slow_consumer_disconnects_total"), 2);
  EXPECT_EQ(e.at("progressista_ws_rejected_auth_total"), 1);
}

TEST_F(MetricsTest, TickHistogramIsCumulativeAndEndsAtCount) {
  for (double s : {0.0001, 0.0005, 0.0007, 0.004, 0.004, 0.09, 0.3, 2.0}) {
    stats_.tick_duration.observe(s);
  }
  stats_.tick_duration.observe(std::nan(""));  // counted as 0
  const Exposition e = scrape(&stats_);
  const auto bucket = [&](const char* le) {
    return e.at(fmt::format("progressista_tick_duration_seconds_bucket{{le=\"{}\"}}", le));
  };
  EXPECT_EQ(bucket("0.0005"), 3);  // le is inclusive
  EXPECT_EQ(bucket("0.001"), 4);
  EXPECT_EQ(bucket("0.0025"), 4);
  EXPECT_EQ(bucket("0.005"), 6);
  EXPECT_EQ(bucket("0.01"), 6);
  EXPECT_EQ(bucket("0.025"), 6);
  EXPECT_EQ(bucket("0.05"), 6);
  EXPECT_EQ(bucket("0.1"), 7);
  EXPECT_EQ(bucket("0.25"), 7);
  EXPECT_EQ(bucket("+Inf"), 9);
  EXPECT_EQ(e.at("progressista_tick_duration_seconds_count"), 9);
  EXPECT_NEAR(e.at("progressista_tick_duration_seconds_sum"), 2.3993, 1e-6);
}

TEST_F(MetricsTest, IngestHeartbeatAgeOnlyWhileAnIngestProcessIsAlive) {
  Exposition e = scrape(nullptr);
  EXPECT_EQ(e.at("progressista_ingest_alive"), 0);
  EXPECT_FALSE(e.has("progressista_ingest_heartbeat_age_seconds"));

  const int entry = store_->processes().enroll(Role::kIngest);  // this test process
  ASSERT_GE(entry, 0);
  store_->processes().beat(entry);
  e = scrape(nullptr);
  EXPECT_EQ(e.at("progressista_ingest_alive"), 1);
  const double age = e.at("progressista_ingest_heartbeat_age_seconds");
  EXPECT_GE(age, 0);
  EXPECT_LT(age, 5);
  store_->processes().leave(entry);
  EXPECT_FALSE(scrape(nullptr).has("progressista_ingest_heartbeat_age_seconds"));
}

TEST_F(MetricsTest, ServeCountsAsTheIngestRole) {
  const int entry = store_->processes().enroll(Role::kServe);
  ASSERT_GE(entry, 0);
  store_->processes().beat(entry);
  EXPECT_EQ(scrape(nullptr).at("progressista_ingest_alive"), 1);
  store_->processes().leave(entry);
}

TEST(MetricsPromText, LabelValuesAndHelpAreEscaped) {
  fmt::memory_buffer out;
  PromText p(out);
  p.family("x_info", "gauge", "Help with a \\ backslash\nand a newline.");
  p.sample("x_info", {{"v", "quote \" backslash \\ newline \n end"}, {"w", ""}}, std::uint64_t{7});
  p.family("y", "gauge", "Special values.");
  p.sample("y", {{"k", "nan"}}, std::nan(""));
  p.sample("y", {{"k", "inf"}}, double{INFINITY});
  p.sample("y", {{"k", "-inf"}}, double{-INFINITY});
  p.sample("y", {{"k", "small"}}, 1e-7);
  const std::string text = fmt::to_string(out);
  EXPECT_THAT(text,
              ::testing::HasSubstr("# HELP x_info Help with a \\\\ backslash\\nand a newline.\n"));
  const Exposition e = parse_exposition(text);
  EXPECT_THAT(e.errors, IsEmpty()) << text;
  EXPECT_EQ(e.at("x_info{v=\"quote \" backslash \\ newline \n end\",w=\"\"}"), 7);
  EXPECT_TRUE(std::isnan(e.at("y{k=\"nan\"}")));
  EXPECT_EQ(e.at("y{k=\"inf\"}"), INFINITY);
  EXPECT_EQ(e.at("y{k=\"-inf\"}"), -INFINITY);
  EXPECT_EQ(e.at("y{k=\"small\"}"), 1e-7);
}

// The validator itself must catch what it is there to catch.
TEST(MetricsPromText, ValidatorRejectsBrokenExpositions) {
  const auto errors = [](std::string_view text) { return parse_exposition(text).errors.size(); };
  EXPECT_EQ(errors("# HELP a x\n# TYPE a counter\na 1\n"), 0u);
  EXPECT_GT(errors("a 1\n"), 0u);                                           // undeclared
  EXPECT_GT(errors("# HELP a x\n# TYPE a counter\na{l=\"x} 1\n"), 0u);      // open quote
  EXPECT_GT(errors("# HELP a x\n# TYPE a counter\na{l=\"\\q\"} 1\n"), 0u);  // bad escape
  EXPECT_GT(errors("# HELP a x\n# TYPE a counter\na one\n"), 0u);           // bad value
  EXPECT_GT(errors("# HELP a x\n# TYPE a counter\na 1\na 2\n"), 0u);        // duplicate
  EXPECT_GT(errors("# HELP a x\n# TYPE a counter\na 1"), 0u);               // no newline
  EXPECT_GT(
      errors("# HELP a x\n# TYPE a counter\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n"),
      0u);  // split family
  EXPECT_GT(errors("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\n"
                   "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"),
            0u);  // not cumulative
  EXPECT_GT(errors("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n"),
            0u);  // +Inf != count
  EXPECT_GT(errors("# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n"),
            0u);  // no +Inf
}

TEST_F(MetricsTest, RouteAnswersGetAndHeadBehindTheToken) {
  MetricsRoutes routes(*ctx_, &stats_);
  const auto call = [&](std::string method, std::string target,
                        std::map<std::string, std::string> headers = {}) {
    const RouteRequest request(std::move(method), std::move(target), std::move(headers));
    std::pair<bool, HttpResponse> a;
    a.first = routes.handle(request.get(), a.second);
    return a;
  };
  EXPECT_FALSE(call("GET", "/metricsx").first);
  EXPECT_FALSE(call("GET", "/tasks").first);
  auto [handled, r] = call("GET", "/metrics");
  EXPECT_TRUE(handled);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, daemon::kPrometheusContentType);
  EXPECT_EQ(response_header(r, "Cache-Control"), "no-store");
  EXPECT_EQ(call("HEAD", "/metrics").second.status, 200);

  const auto method_before = store_->counters().get(Counter::kRejectedMethod);
  const auto post = call("POST", "/metrics").second;
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(response_header(post, "Allow"), "GET, HEAD");
  EXPECT_EQ(store_->counters().get(Counter::kRejectedMethod), method_before + 1);

  ctx_->tokens = TokenSet({"t0ken"});
  const auto auth_before = store_->counters().get(Counter::kRejectedAuth);
  const auto denied = call("GET", "/metrics").second;
  EXPECT_EQ(denied.status, 401);
  EXPECT_EQ(denied.body, R"({"detail":"Invalid API token"})");
  EXPECT_EQ(store_->counters().get(Counter::kRejectedAuth), auth_before + 1);
  EXPECT_EQ(call("GET", "/metrics", {{"Authorization", "Bearer t0ken"}}).second.status, 200);
  const auto with_query = call("GET", "/metrics?token=t0ken").second;
  EXPECT_EQ(with_query.status, 200);
  // The rejection just made is in the exposition.
  EXPECT_EQ(parse_exposition(with_query.body).at("progressista_rejected_total{reason=\"auth\"}"),
            static_cast<double>(auth_before + 1));
}

}  // namespace
}  // namespace progressista
