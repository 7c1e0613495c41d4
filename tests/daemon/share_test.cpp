// Share links (a signed, read-only scope) and badges: the token codec and the badge's SVG and
// shields JSON as pure functions, then a real `serve` on loopback with an API token and a share
// secret, asked over every route and protocol with links in and out of scope.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "http/share_token.hpp"
#include "live/badge.hpp"
#include "live/view.hpp"
#include "progressista/bookkeeping.hpp"
#include "support/daemon_process.hpp"
#include "support/http_client.hpp"
#include "support/json_doc.hpp"
#include "support/run_binary.hpp"
#include "support/segment_fixture.hpp"
#include "support/sse_reader.hpp"
#include "support/ws_client.hpp"

namespace progressista {
namespace {

using daemon::Badge;
using daemon::BadgeState;
using daemon::ShareClaims;
using daemon::ShareError;
using daemon::ShareScope;
using testing::DaemonProcess;
using testing::http;
using testing::HttpReply;
using testing::ScopedSegmentName;
using testing::SseReader;
using testing::WsTestClient;
using Json = testing::JsonDoc;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

constexpr std::string_view kSecret = "a-share-secret-of-32-bytes-long!";
constexpr std::string_view kWriter = "writer-token";

std::string token(ShareScope scope, std::string key_id = "1", double ttl = 3600,
                  std::string_view secret = kSecret) {
  ShareClaims c;
  c.key_id = std::move(key_id);
  c.scope = std::move(scope);
  c.expires = static_cast<std::int64_t>(now_seconds() + ttl);
  return daemon::sign_share_token(c, secret);
}

// ---- the codec ----

TEST(ShareToken, SignedTokenVerifiesWithItsScope) {
  const std::string t = token({"alpha", "run-"});
  const auto v = daemon::verify_share_token(t, kSecret, "1", now_seconds());
  ASSERT_TRUE(v.ok()) << v.detail();
  EXPECT_EQ(v.claims.scope.project, "alpha");
  EXPECT_EQ(v.claims.scope.prefix, "run-");
  EXPECT_EQ(v.claims.key_id, "1");
  EXPECT_THAT(t, ::testing::StartsWith("ps1."));
  EXPECT_EQ(t.find_first_not_of(
                "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."),
            std::string::npos)
      << "a token needs no escaping in a URL";
}

TEST(ShareToken, AlteredScopeOrSignatureIsRefused) {
  const std::string t = token({"alpha", ""});
  const std::string other = token({"beta", ""});
  // The scope of one token with the signature of another.
  const std::string swapped = t.substr(0, t.rfind('.')) + other.substr(other.rfind('.'));
  EXPECT_EQ(daemon::verify_share_token(swapped, kSecret, "1", now_seconds()).error,
            ShareError::kSignature);
  std::string flipped = t;
  flipped.back() = flipped.back() == 'A' ? 'Q' : 'A';
  EXPECT_NE(daemon::verify_share_token(flipped, kSecret, "1", now_seconds()).error,
            ShareError::kNone);
  EXPECT_EQ(daemon::verify_share_token(t, "another-secret-of-some-length", "1", now_seconds())
                .error,
            ShareError::kSignature);
}

TEST(ShareToken, RotatedKeyIdRevokesAndPastExpiryExpires) {
  const auto revoked = daemon::verify_share_token(token({"alpha", ""}, "1"), kSecret, "2",
                                                  now_seconds());
  EXPECT_EQ(revoked.error, ShareError::kRevoked);
  EXPECT_THAT(revoked.detail(), HasSubstr("revoked"));
  const auto expired =
      daemon::verify_share_token(token({"alpha", ""}, "1", -5), kSecret, "1", now_seconds());
  EXPECT_EQ(expired.error, ShareError::kExpired);
  EXPECT_THAT(expired.detail(), HasSubstr("expired"));
}

TEST(ShareToken, MalformedTokensAreRefusedAsSuch) {
  for (const std::string& bad : std::vector<std::string>{"", "ps1", "ps1.....", "ps2.MQ.1.YQ..AAAA", "ps1.MQ.-5.YQ..AAAA", "ps1.M!.1.YQ..AAAA",
        "ps1.MQ.1x.YQ..AAAA", std::string(5000, 'a')}) {
    EXPECT_EQ(daemon::verify_share_token(bad, kSecret, "1", now_seconds()).error,
              ShareError::kMalformed)
        << bad.substr(0, 40);
  }
}

TEST(ShareToken, Base64UrlRoundTripsEveryByteAndRefusesNonCanonicalText) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (std::size_t len = 0; len < 8; ++len) {
    std::string back;
    ASSERT_TRUE(daemon::base64url_decode(daemon::base64url_encode(all.substr(0, len)), back));
    EXPECT_EQ(back, all.substr(0, len));
  }
  std::string back;
  ASSERT_TRUE(daemon::base64url_decode(daemon::base64url_encode(all), back));
  EXPECT_EQ(back, all);
  EXPECT_TRUE(daemon::base64url_decode("QQ", back));   // "A"
  EXPECT_FALSE(daemon::base64url_decode("QR", back));  // leftover bits set
  EXPECT_FALSE(daemon::base64url_decode("Q", back));
  EXPECT_FALSE(daemon::base64url_decode("QQ==", back));  // no padding in base64url
}

TEST(ShareToken, DurationsTakeOneUnit) {
  EXPECT_EQ(daemon::parse_share_duration("30m"), 1800);
  EXPECT_EQ(daemon::parse_share_duration("12h"), 43200);
  EXPECT_EQ(daemon::parse_share_duration("7d"), 7 * 86400);
  EXPECT_EQ(daemon::parse_share_duration("2w"), 14 * 86400);
  for (const char* bad : {"", "d", "0d", "-1d", "7", "7y", "1.5h", "7 d", "99999999999999999d"})
    EXPECT_EQ(daemon::parse_share_duration(bad), 0) << bad;
}

TEST(ShareScope, ScopedViewsNeverShareAFrameKeyWithUnscopedOnes) {
  daemon::View scoped{daemon::View::Kind::kTask, "x", ShareScope{"p", "x"}};
  daemon::View forged{daemon::View::Kind::kTask, "x scope:1:pa", std::nullopt};
  EXPECT_NE(scoped.key(), forged.key());
  EXPECT_NE(scoped.key(), (daemon::View{daemon::View::Kind::kTask, "x", ShareScope{"pa", ""}}.key()));
  EXPECT_FALSE(scoped.all());
  EXPECT_TRUE(scoped.matches("x", "p", true));
  EXPECT_FALSE(scoped.matches("x", "q", true));
  EXPECT_FALSE(scoped.matches("x", "", false));
  EXPECT_TRUE((ShareScope{"", "run-"}.matches("run-1", "", false)));
}

// ---- badges, pure ----

// A small XML check: every tag closed in order, attributes quoted, only the five predefined
// entities and numeric references. Returns the texts of <text> elements and the fill of each
// <rect>, in order.
struct Svg {
  bool well_formed = false;
  std::string root;
  std::vector<std::string> texts;
  std::vector<std::string> fills;
};

Svg parse_svg(const std::string& s) {
  Svg svg;
  std::vector<std::string> open;
  std::string text;
  std::size_t i = 0;
  const auto entity_ok = [&](std::size_t at) {
    const std::size_t semi = s.find(';', at);
    if (semi == std::string::npos) return false;
    const std::string name = s.substr(at + 1, semi - at - 1);
    static const std::map<std::string, char> kNamed = {
        {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    if (kNamed.count(name) == 0 && !(name.size() > 1 && name[0] == '#')) return false;
    return true;
  };
  while (i < s.size()) {
    if (s[i] == '<') {
      const std::size_t end = s.find('>', i);
      if (end == std::string::npos) return svg;
      std::string tag = s.substr(i + 1, end - i - 1);
      i = end + 1;
      if (!tag.empty() && tag[0] == '/') {
        if (open.empty() || open.back() != tag.substr(1)) return svg;
        if (open.back() == "text") svg.texts.push_back(text);
        open.pop_back();
        continue;
      }
      const bool self_closing = !tag.empty() && tag.back() == '/';
      if (self_closing) tag.pop_back();
      const std::string name = tag.substr(0, tag.find(' '));
      if (name.empty()) return svg;
      // Attributes: name="value" pairs.
      std::size_t a = name.size();
      std::map<std::string, std::string> attrs;
      while (a < tag.size()) {
        while (a < tag.size() && tag[a] == ' ') ++a;
        if (a >= tag.size()) break;
        const std::size_t eq = tag.find('=', a);
        if (eq == std::string::npos || eq + 1 >= tag.size() || tag[eq + 1] != '"') return svg;
        const std::size_t close = tag.find('"', eq + 2);
        if (close == std::string::npos) return svg;
        const std::string value = tag.substr(eq + 2, close - eq - 2);
        if (value.find('<') != std::string::npos) return svg;
        attrs[tag.substr(a, eq - a)] = value;
        a = close + 1;
      }
      if (open.empty() && svg.root.empty()) svg.root = name;
      if (open.empty() && svg.root != name) return svg;  // one root
      if (name == "rect") svg.fills.push_back(attrs["fill"]);
      if (name == "text") text.clear();
      if (!self_closing) open.push_back(name);
    } else {
      if (open.empty()) return svg;  // text outside the root
      if (s[i] == '&' && !entity_ok(i)) return svg;
      text.push_back(s[i]);
      ++i;
    }
  }
  svg.well_formed = open.empty() && !svg.root.empty();
  return svg;
}

TEST(Badge, SvgIsWellFormedWithEscapedTextAndTheStatusColour) {
  const Badge b{"a <b> & \"c\"", "42%", BadgeState::kRunning};
  const Svg svg = parse_svg(daemon::badge_svg(b));
  ASSERT_TRUE(svg.well_formed) << daemon::badge_svg(b);
  EXPECT_EQ(svg.root, "svg");
  ASSERT_EQ(svg.texts.size(), 2u);
  EXPECT_EQ(svg.texts[0], "a &lt;b&gt; &amp; &quot;c&quot;");
  EXPECT_EQ(svg.texts[1], "42%");
  EXPECT_THAT(svg.fills, ::testing::Contains("#007ec6"));
  for (const auto& [state, colour] :
       std::vector<std::pair<BadgeState, std::string>>{{BadgeState::kClosed, "#4c1"},
                                                       {BadgeState::kFailed, "#e05d44"},
                                                       {BadgeState::kStalled, "#fe7d37"},
                                                       {BadgeState::kUnknown, "#9f9f9f"}}) {
    const Svg s = parse_svg(daemon::badge_svg({"x", "y", state}));
    EXPECT_TRUE(s.well_formed);
    EXPECT_THAT(s.fills, ::testing::Contains(colour));
  }
}

TEST(Badge, ShieldsJsonIsTheEndpointSchema) {
  const std::string text = daemon::badge_shields_json({"tr\"ain", "3 failed", BadgeState::kFailed});
  Json j(text);
  ASSERT_TRUE(j.ok) << text;
  EXPECT_EQ(j.u64("schemaVersion"), 1u);
  EXPECT_EQ(j.str("label"), "tr\"ain");
  EXPECT_EQ(j.str("message"), "3 failed");
  EXPECT_EQ(j.str("color"), "red");
}

// ---- a real server ----

HttpReply get(std::uint16_t port, const std::string& target, std::string_view headers = {}) {
  return http(port, "GET", target, {}, headers);
}

std::string bearer(std::string_view t) {
  return fmt::format("Authorization: Bearer {}\r\n", t);
}

class ShareServer : public ::testing::Test {
 protected:
  void start(std::map<std::string, std::string> env = {}, bool with_secret = true) {
    env.emplace("PROGRESSISTA_API_TOKEN", std::string(kWriter));
    if (with_secret) env.emplace("PROGRESSISTA_SHARE_SECRET", std::string(kSecret));
    daemon_ = std::make_unique<DaemonProcess>(
        std::vector<std::string>{"serve", "--segment", seg_.str(), "--capacity", "256",
                                 "--threads", "2", "--tick", "0.02"},
        std::move(env));
    ASSERT_TRUE(daemon_->running()) << daemon_->log();
  }
  std::uint16_t port() const { return daemon_->port(); }

  int post(const std::string& id, const std::string& project, double n, double total = 10,
           const std::string& status = "update") {
    std::string body = fmt::format(R"({{"task_id":"{}","n":{},"total":{},"status":"{}")", id, n,
                                   total, status);
    if (!project.empty()) body += fmt::format(R"(,"project":"{}")", project);
    body += "}";
    return http(port(), "POST", "/progress", body, bearer(kWriter)).status;
  }
  void fill() {
    ASSERT_EQ(post("alpha-1", "alpha", 1), 200);
    ASSERT_EQ(post("alpha-2", "alpha", 5), 200);
    ASSERT_EQ(post("other-3", "alpha", 7), 200);
    ASSERT_EQ(post("beta-1", "beta", 2), 200);
    ASSERT_EQ(post("loose-1", "", 3), 200);
  }
  std::set<std::string> task_ids(const std::string& target, std::string_view headers = {}) {
    const HttpReply r = get(port(), target, headers);
    EXPECT_EQ(r.status, 200) << target << " " << r.body;
    return Json(r.body).keys("tasks");
  }

  ScopedSegmentName seg_;
  std::unique_ptr<DaemonProcess> daemon_;
  const std::string alpha_ = token({"alpha", ""});
  const std::string alpha_run_ = token({"alpha", "alpha-"});
};

using Ids = std::set<std::string>;

TEST_F(ShareServer, TasksListShowsOnlyTheLinksScopeWhateverTheQuery) {
  start();
  fill();
  EXPECT_EQ(task_ids("/tasks?share=" + alpha_), (Ids{"alpha-1", "alpha-2", "other-3"}));
  EXPECT_EQ(task_ids("/tasks?share=" + alpha_run_), (Ids{"alpha-1", "alpha-2"}));
  // The query narrows within the scope, never widens it.
  EXPECT_EQ(task_ids("/tasks?project=beta&share=" + alpha_), Ids{});
  EXPECT_EQ(task_ids("/tasks?prefix=alpha-2&share=" + alpha_), Ids{"alpha-2"});
  EXPECT_EQ(task_ids("/tasks?prefix=other&share=" + alpha_run_), Ids{});
  // The API token still sees everything.
  EXPECT_EQ(task_ids("/tasks", bearer(kWriter)).size(), 5u);
  // Without either: 401, as before.
  EXPECT_EQ(get(port(), "/tasks").status, 401);
}

TEST_F(ShareServer, TaskOutsideTheScopeIsNotFound) {
  start();
  fill();
  EXPECT_EQ(get(port(), "/tasks/alpha-1?share=" + alpha_).status, 200);
  EXPECT_EQ(get(port(), "/tasks/other-3?share=" + alpha_).status, 200);
  EXPECT_EQ(get(port(), "/tasks/other-3?share=" + alpha_run_).status, 404);
  EXPECT_EQ(get(port(), "/tasks/beta-1?share=" + alpha_).status, 404);
  EXPECT_EQ(get(port(), "/tasks/loose-1?share=" + alpha_).status, 404);
}

TEST_F(ShareServer, SummaryCountsOnlyTheScope) {
  start();
  fill();
  const HttpReply r = get(port(), "/summary?share=" + alpha_run_);
  ASSERT_EQ(r.status, 200) << r.body;
  Json j(r.body);
  ASSERT_TRUE(j.ok);
  std::uint64_t total = 0;
  ASSERT_EQ(j.root["tasks"]["total"].get_uint64().get(total), simdjson::SUCCESS);
  EXPECT_EQ(total, 2u);
  EXPECT_EQ(j.keys("projects"), Ids{"alpha"});
  EXPECT_THAT(r.body, Not(HasSubstr("beta")));
  // The fleet's rates are not the scope's: none are served.
  simdjson::dom::array seconds;
  ASSERT_EQ(j.root["history"]["seconds"].get_array().get(seconds), simdjson::SUCCESS);
  EXPECT_EQ(seconds.size(), 0u);
  const HttpReply all = get(port(), "/summary", bearer(kWriter));
  EXPECT_THAT(all.body, HasSubstr("beta"));
}

TEST_F(ShareServer, WritesWithAShareLinkAre403AndChangeNothing) {
  start();
  fill();
  const std::string q = "?share=" + alpha_;
  const HttpReply posted =
      http(port(), "POST", "/progress" + q, R"({"task_id":"alpha-1","n":9})");
  EXPECT_EQ(posted.status, 403);
  EXPECT_THAT(posted.body, HasSubstr("read-only"));
  EXPECT_EQ(http(port(), "DELETE", "/tasks/alpha-1" + q).status, 403);
  EXPECT_EQ(http(port(), "DELETE", "/tasks" + q).status, 403);
  EXPECT_EQ(http(port(), "POST", "/tasks/alpha-1/acknowledge" + q).status, 403);
  // Even alongside the writer's own token, a request with a share link is read-only.
  EXPECT_EQ(http(port(), "POST", "/progress" + q, R"({"task_id":"alpha-1","n":9})",
                 bearer(kWriter))
                .status,
            403);
  Json task(get(port(), "/tasks/alpha-1" + q).body);
  double n = -1;
  ASSERT_EQ(task.root["n"].get_double().get(n), simdjson::SUCCESS);
  EXPECT_EQ(n, 1);
  EXPECT_EQ(task_ids("/tasks" + q).size(), 3u);
}

TEST_F(ShareServer, MetricsAndOtherRoutesAreOutOfReach) {
  start();
  fill();
  const HttpReply metrics = get(port(), "/metrics?share=" + alpha_);
  EXPECT_EQ(metrics.status, 403);
  EXPECT_THAT(metrics.body, HasSubstr("does not reach /metrics"));
  EXPECT_EQ(get(port(), "/projects/beta/progress?share=" + alpha_).status, 403);
  EXPECT_EQ(get(port(), "/projects/alpha/progress?share=" + alpha_).status, 403);
  // The board's files are served to a link.
  EXPECT_EQ(get(port(), "/?share=" + alpha_).status, 307);
  EXPECT_EQ(get(port(), "/static/index.html?share=" + alpha_).status, 200);
  const HttpReply m = get(port(), "/metrics", bearer(kWriter));
  EXPECT_THAT(m.body, HasSubstr("progressista_share_links_forbidden_total 3"));
}

TEST_F(ShareServer, ExpiredTamperedAndForeignLinksAre401AndCounted) {
  start();
  fill();
  const std::string expired = token({"alpha", ""}, "1", -10);
  std::string tampered = alpha_;
  tampered.replace(tampered.find(".YWxwaGE."), 9, ".YmV0YQ.");  // alpha -> beta
  const std::string foreign = token({"alpha", ""}, "1", 3600, "some-other-secret-0123456789");
  for (const auto& [t, words] : std::vector<std::pair<std::string, std::string>>{
           {expired, "expired"}, {tampered, "signature"}, {foreign, "signature"},
           {"garbage", "malformed"}}) {
    for (const std::string target : {"/tasks", "/summary", "/tasks/alpha-1", "/events",
                                      "/tasks/stream", "/badge/task/alpha-1.svg", "/"}) {
      const HttpReply r = get(port(), target + "?share=" + t);
      EXPECT_EQ(r.status, 401) << target << " " << words;
      EXPECT_THAT(r.body, HasSubstr(words)) << target;
    }
  }
  const HttpReply m = get(port(), "/metrics", bearer(kWriter));
  EXPECT_THAT(m.body, HasSubstr(R"(progressista_share_links_refused_total{reason="expired"} 7)"));
  EXPECT_THAT(m.body,
              HasSubstr(R"(progressista_share_links_refused_total{reason="signature"} 14)"));
  EXPECT_THAT(m.body,
              HasSubstr(R"(progressista_share_links_refused_total{reason="malformed"} 7)"));
  // A refused link on the WebSocket: closed with Progressista's 4401.
  WsTestClient ws(port(), "/ws?share=" + expired);
  ASSERT_TRUE(ws.open());
  EXPECT_FALSE(ws.read(10s));
  EXPECT_EQ(ws.close_code(), 4401);
}

TEST_F(ShareServer, RotatingTheKeyIdRevokesEveryEarlierLink) {
  start({{"PROGRESSISTA_SHARE_KEY_ID", "2024-a"}});
  fill();
  const std::string old_link = token({"alpha", ""}, "2024-a");
  EXPECT_EQ(get(port(), "/tasks?share=" + old_link).status, 200);
  daemon_.reset();
  start({{"PROGRESSISTA_SHARE_KEY_ID", "2024-b"}});
  const HttpReply r = get(port(), "/tasks?share=" + old_link);
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(r.body, HasSubstr("revoked"));
  EXPECT_EQ(get(port(), "/tasks?share=" + token({"alpha", ""}, "2024-b")).status, 200);
}

TEST_F(ShareServer, WithoutASecretEveryLinkIsRefusedAndTokensWorkAsBefore) {
  start({}, false);
  fill();
  const HttpReply r = get(port(), "/tasks?share=" + alpha_);
  EXPECT_EQ(r.status, 401);
  EXPECT_THAT(r.body, HasSubstr("not enabled"));
  EXPECT_EQ(task_ids("/tasks", bearer(kWriter)).size(), 5u);
}

TEST_F(ShareServer, ProgressistaWebSocketFramesHoldOnlyTheScope) {
  start();
  fill();
  WsTestClient ws(port(), "/ws?share=" + alpha_run_);
  ASSERT_TRUE(ws.open());
  auto first = ws.read(20s);
  ASSERT_TRUE(first);
  EXPECT_EQ(Json(*first).keys("tasks"), (Ids{"alpha-1", "alpha-2"}));
  ASSERT_EQ(post("beta-1", "beta", 8), 200);
  ASSERT_EQ(post("other-3", "alpha", 8), 200);
  ASSERT_EQ(post("alpha-1", "alpha", 8), 200);
  std::string last;
  ASSERT_TRUE(ws.read_until(
      [](const std::string& f) { return Json(f).n_of("tasks", "alpha-1") == 8; }, 20s, &last))
      << last;
  EXPECT_EQ(Json(last).keys("tasks"), (Ids{"alpha-1", "alpha-2"}));
}

TEST_F(ShareServer, DeltaWebSocketCannotSubscribeOutOfItsScope) {
  start();
  fill();
  WsTestClient ws(port(), "/ws?protocol=delta&share=" + alpha_);
  ASSERT_TRUE(ws.open());
  auto snap = ws.read(20s);
  ASSERT_TRUE(snap);
  EXPECT_EQ(Json(*snap).keys("tasks"), (Ids{"alpha-1", "alpha-2", "other-3"}));
  ASSERT_TRUE(ws.send(R"({"op":"subscribe","project":"beta"})"));
  std::string last;
  ASSERT_TRUE(ws.read_until([](const std::string& f) { return Json(f).str("type") == "snapshot"; },
                            20s, &last));
  EXPECT_EQ(Json(last).keys("tasks"), Ids{});
  ASSERT_TRUE(ws.send(R"({"op":"unsubscribe"})"));
  ASSERT_TRUE(ws.read_until([](const std::string& f) { return Json(f).str("type") == "snapshot"; },
                            20s, &last));
  EXPECT_EQ(Json(last).keys("tasks"), (Ids{"alpha-1", "alpha-2", "other-3"}));
  ASSERT_EQ(post("beta-1", "beta", 9), 200);
  ASSERT_EQ(post("alpha-2", "alpha", 9), 200);
  std::vector<std::string> frames;
  ASSERT_TRUE(ws.read_until(
      [&](const std::string& f) {
        frames.push_back(f);
        return Json(f).n_of("upserts", "alpha-2") == 9;
      },
      20s));
  for (const auto& f : frames) EXPECT_THAT(f, Not(HasSubstr("beta-1")));
}

TEST_F(ShareServer, DashboardsCompactProtocolSeesOnlyTheScope) {
  start();
  fill();
  WsTestClient ws(port(), "/ws?protocol=delta2&share=" + alpha_run_);
  ASSERT_TRUE(ws.open());
  auto snap = ws.read(20s);
  ASSERT_TRUE(snap);
  EXPECT_THAT(*snap, HasSubstr("alpha-1"));
  EXPECT_THAT(*snap, Not(HasSubstr("other-3")));
  EXPECT_THAT(*snap, Not(HasSubstr("beta-1")));
  ASSERT_EQ(post("beta-1", "beta", 4), 200);
  ASSERT_EQ(post("alpha-1", "alpha", 4), 200);
  std::vector<std::string> frames;
  ASSERT_TRUE(ws.read_until(
      [&](const std::string& f) {
        frames.push_back(f);
        return f.find("\"n\":4") != std::string::npos;
      },
      20s));
  for (const auto& f : frames) EXPECT_THAT(f, Not(HasSubstr("beta-1")));
}

TEST_F(ShareServer, SseAndEventStreamsHoldOnlyTheScope) {
  start();
  fill();
  SseReader events(port(), {}, "/events?project=beta&share=" + alpha_);
  std::string id, data;
  ASSERT_TRUE(events.next(id, data, 20s));
  EXPECT_EQ(Json(data).keys("tasks"), Ids{}) << data;  // asked for beta: nothing
  SseReader scoped(port(), {}, "/events?share=" + alpha_run_);
  ASSERT_TRUE(scoped.next(id, data, 20s));
  EXPECT_EQ(Json(data).keys("tasks"), (Ids{"alpha-1", "alpha-2"}));
  SseReader stream(port(), {}, "/tasks/stream?snapshot=1&share=" + alpha_run_);
  WsTestClient tasks_ws(port(), "/tasks/ws?snapshot=1&share=" + alpha_run_);
  ASSERT_TRUE(tasks_ws.open());

  ASSERT_EQ(post("beta-1", "beta", 6), 200);
  ASSERT_EQ(post("other-3", "alpha", 6), 200);
  ASSERT_EQ(post("alpha-2", "alpha", 6), 200);
  const auto alpha2_at_6 = [](const std::string& f) {
    return f.find("alpha-2") != std::string::npos && f.find("\"n\":6") != std::string::npos;
  };
  std::vector<std::string> seen;
  bool got = false;
  while (!got && scoped.next(id, data, 20s)) {
    seen.push_back(data);
    got = alpha2_at_6(data);
  }
  EXPECT_TRUE(got);
  got = false;
  while (!got && stream.next(id, data, 20s)) {
    seen.push_back(data);
    got = alpha2_at_6(data);
  }
  EXPECT_TRUE(got);
  EXPECT_TRUE(tasks_ws.read_until(
      [&](const std::string& f) {
        seen.push_back(f);
        return alpha2_at_6(f);
      },
      20s));
  for (const auto& f : seen) {
    EXPECT_THAT(f, Not(HasSubstr("beta-1")));
    EXPECT_THAT(f, Not(HasSubstr("other-3")));
    EXPECT_THAT(f, Not(HasSubstr("loose-1")));
  }
}

TEST_F(ShareServer, AnOpenServerStillNarrowsToTheLink) {
  // No API token: everything is open, and a link is still only its scope.
  daemon_ = std::make_unique<DaemonProcess>(
      std::vector<std::string>{"serve", "--segment", seg_.str(), "--threads", "2"},
      std::map<std::string, std::string>{{"PROGRESSISTA_SHARE_SECRET", std::string(kSecret)}});
  ASSERT_TRUE(daemon_->running()) << daemon_->log();
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"alpha-1","project":"alpha"})").status,
            200);
  ASSERT_EQ(http(port(), "POST", "/progress", R"({"task_id":"beta-1","project":"beta"})").status,
            200);
  EXPECT_EQ(task_ids("/tasks?share=" + alpha_), Ids{"alpha-1"});
  EXPECT_EQ(task_ids("/tasks").size(), 2u);
  EXPECT_EQ(http(port(), "POST", "/progress?share=" + alpha_, R"({"task_id":"x"})").status, 403);
}

// ---- badges on the server ----

TEST_F(ShareServer, TaskBadgeIsAnSvgWithItsPercentAndColour) {
  start();
  fill();
  const HttpReply r = get(port(), "/badge/task/alpha-2.svg", bearer(kWriter));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_THAT(r.header("content-type"), HasSubstr("image/svg+xml"));
  EXPECT_EQ(r.header("cache-control"), "no-cache");
  const Svg svg = parse_svg(r.body);
  ASSERT_TRUE(svg.well_formed) << r.body;
  ASSERT_EQ(svg.texts.size(), 2u);
  EXPECT_EQ(svg.texts[0], "alpha-2");
  EXPECT_EQ(svg.texts[1], "50%");
  EXPECT_THAT(svg.fills, ::testing::Contains("#007ec6"));

  ASSERT_EQ(post("alpha-1", "alpha", 10, 10, "close"), 200);
  const Svg closed = parse_svg(get(port(), "/badge/task/alpha-1.svg", bearer(kWriter)).body);
  EXPECT_EQ(closed.texts.at(1), "100%");
  EXPECT_THAT(closed.fills, ::testing::Contains("#4c1"));

  const HttpReply shields = get(port(), "/badge/task/alpha-2.svg?format=shields", bearer(kWriter));
  EXPECT_EQ(shields.status, 200);
  EXPECT_THAT(shields.header("content-type"), HasSubstr("application/json"));
  Json j(shields.body);
  EXPECT_EQ(j.u64("schemaVersion"), 1u);
  EXPECT_EQ(j.str("message"), "50%");
  EXPECT_EQ(j.str("color"), "blue");
}

TEST_F(ShareServer, ProjectBadgeAggregatesItsTasks) {
  start();
  fill();
  // alpha: 1 + 5 + 7 of 30.
  Json j(get(port(), "/badge/project/alpha.svg?format=shields", bearer(kWriter)).body);
  EXPECT_EQ(j.str("label"), "alpha");
  EXPECT_EQ(j.str("message"), "43%");
  EXPECT_EQ(j.str("color"), "blue");
  ASSERT_EQ(post("other-3", "alpha", 7, 10, "error"), 200);
  Json failed(get(port(), "/badge/project/alpha.svg?format=shields", bearer(kWriter)).body);
  EXPECT_EQ(failed.str("message"), "1 failed");
  EXPECT_EQ(failed.str("color"), "red");
  const Svg svg = parse_svg(get(port(), "/badge/project/alpha.svg", bearer(kWriter)).body);
  ASSERT_TRUE(svg.well_formed);
  EXPECT_THAT(svg.fills, ::testing::Contains("#e05d44"));
}

TEST_F(ShareServer, UnknownBadgeIsAGrey404AndBadgesAreGuarded) {
  start();
  fill();
  const HttpReply missing = get(port(), "/badge/task/nope.svg", bearer(kWriter));
  EXPECT_EQ(missing.status, 404);
  const Svg svg = parse_svg(missing.body);
  ASSERT_TRUE(svg.well_formed) << missing.body;
  EXPECT_EQ(svg.texts.at(1), "not found");
  EXPECT_THAT(svg.fills, ::testing::Contains("#9f9f9f"));
  EXPECT_EQ(get(port(), "/badge/project/nobody.svg", bearer(kWriter)).status, 404);
  // Guarded like the read API: no token, 401; a share link covers its scope only.
  EXPECT_EQ(get(port(), "/badge/task/alpha-1.svg").status, 401);
  EXPECT_EQ(get(port(), "/badge/task/alpha-1.svg?share=" + alpha_).status, 200);
  EXPECT_EQ(get(port(), "/badge/task/beta-1.svg?share=" + alpha_).status, 404);
  EXPECT_EQ(get(port(), "/badge/project/alpha.svg?share=" + alpha_).status, 200);
  EXPECT_EQ(get(port(), "/badge/project/beta.svg?share=" + alpha_).status, 404);
  // A prefix link's project badge counts the prefix's tasks only: 1 + 5 of 20.
  Json j(get(port(), "/badge/project/alpha.svg?format=shields&share=" + alpha_run_).body);
  EXPECT_EQ(j.str("message"), "30%");
  EXPECT_EQ(http(port(), "POST", "/badge/task/alpha-1.svg", "", bearer(kWriter)).status, 405);
}

TEST_F(ShareServer, ALinkIsNoApiTokenAndBadgePathsAreDecoded) {
  start();
  fill();
  // In the Authorization header a link is just a wrong API token.
  const HttpReply as_bearer = get(port(), "/tasks", bearer(alpha_));
  EXPECT_EQ(as_bearer.status, 401);
  EXPECT_THAT(as_bearer.body, HasSubstr("Invalid API token"));
  EXPECT_EQ(get(port(), "/tasks?token=" + alpha_).status, 401);
  // Percent-escapes in a badge's path are decoded once.
  Json j(get(port(), "/badge/project/al%70ha.svg?format=shields", bearer(kWriter)).body);
  EXPECT_EQ(j.str("label"), "alpha");
  EXPECT_EQ(get(port(), "/badge/task/.svg", bearer(kWriter)).status, 404);
  EXPECT_EQ(get(port(), "/badge/task/alpha-1.png", bearer(kWriter)).status, 404);
}

TEST_F(ShareServer, TheSecretMayComeFromAFile) {
  const std::string path = fmt::format("/tmp/progressista-share-secret-{}", ::getpid());
  {
    std::ofstream out(path);
    out << "  " << kSecret << "  \n";
  }
  start({{"PROGRESSISTA_SHARE_SECRET_FILE", path}}, false);
  fill();
  EXPECT_EQ(task_ids("/tasks?share=" + alpha_).size(), 3u);
  ::unlink(path.c_str());
  DaemonProcess unreadable({"serve", "--segment", seg_.str()},
                           {{"PROGRESSISTA_SHARE_SECRET_FILE", path}});
  EXPECT_GE(unreadable.wait_exit(), 100) << unreadable.log();
  EXPECT_THAT(unreadable.log(), HasSubstr("PROGRESSISTA_SHARE_SECRET_FILE"));
}

// ---- the verb ----

TEST(ShareCommand, PrintsABoardUrlWithAWorkingToken) {
  const auto r = testing::run(
      {"share", "--project", "alpha", "--expires", "30m", "--base-url", "http://board.example"},
      {{"PROGRESSISTA_SHARE_SECRET", std::string(kSecret)}});
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_THAT(r.out, ::testing::StartsWith("http://board.example/?share=ps1."));
  std::string t = r.out.substr(r.out.find("share=") + 6);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  const auto v = daemon::verify_share_token(t, kSecret, "1", now_seconds());
  ASSERT_TRUE(v.ok()) << v.detail();
  EXPECT_EQ(v.claims.scope.project, "alpha");
  EXPECT_NEAR(static_cast<double>(v.claims.expires), now_seconds() + 1800, 60);
  EXPECT_THAT(r.err, HasSubstr("project 'alpha'"));
}

TEST(ShareCommand, RefusesWithoutASecretAndBadDurations) {
  const auto none = testing::run({"share", "--project", "alpha"}, {});
  EXPECT_EQ(none.code, 1);
  EXPECT_THAT(none.err, HasSubstr("no share secret"));
  const auto long_ = testing::run({"share", "--project", "alpha", "--expires", "400d"},
                                         {{"PROGRESSISTA_SHARE_SECRET", std::string(kSecret)}});
  EXPECT_GE(long_.code, 100);
  EXPECT_THAT(long_.err, HasSubstr("365d"));
  const auto bad = testing::run({"share", "--project", "alpha", "--expires", "soon"},
                                       {{"PROGRESSISTA_SHARE_SECRET", std::string(kSecret)}});
  EXPECT_GE(bad.code, 100);
  const auto no_scope =
      testing::run({"share"}, {{"PROGRESSISTA_SHARE_SECRET", std::string(kSecret)}});
  EXPECT_NE(no_scope.code, 0);
  const auto short_secret =
      testing::run({"share", "--project", "a"}, {{"PROGRESSISTA_SHARE_SECRET", "short"}});
  EXPECT_NE(short_secret.code, 0);
  EXPECT_THAT(short_secret.err, HasSubstr("16"));
}

}  // namespace
}  // namespace progressista
