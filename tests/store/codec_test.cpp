// The event codec: what is accepted, what is rejected and with which words, and the JSON out.
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "progressista/event_parser.hpp"
#include "progressista/task_json.hpp"

namespace progressista {
namespace {

using ::testing::HasSubstr;

// What the parser yielded, with every view copied out.
struct Seen {
  std::size_t index;
  bool valid;
  std::string task_id, detail;
  std::optional<std::string> desc, unit, meta, token, message, project;
  std::optional<double> n, total, progress, timestamp;
  std::optional<Status> status;
};

// Copies an item out (its views die with the parser's next call).
Seen seen_of(const BodyItem& item) {
  if (item.event == nullptr) {
    Seen s{};
    s.index = item.index;
    s.valid = false;
    s.detail = std::string(item.detail);
    return s;
  }
  const Event& e = *item.event;
  Seen s{item.index, true,        std::string(e.task_id),
         {},         {},          {},
         {},         {},          {},
         {},         e.n,         e.total,
         e.progress, e.timestamp, e.status};
  if (e.desc) s.desc = std::string(*e.desc);
  if (e.unit) s.unit = std::string(*e.unit);
  if (e.meta) s.meta = std::string(*e.meta);
  if (e.meta_token) s.token = std::string(*e.meta_token);
  if (e.message) s.message = std::string(*e.message);
  if (e.project) s.project = std::string(*e.project);
  return s;
}

class CodecTest : public ::testing::Test {
 protected:
  // Opens `text` and reads every item it yields into `seen`.
  BodyResult parse(std::string_view text, BodyFormat format = BodyFormat::kJson) {
    seen.clear();
    body.assign(text);
    const BodyResult r = parser.open(body.view(), body.capacity(), format);
    while (const std::optional<BodyItem> item = parser.next()) seen.push_back(seen_of(*item));
    return r;
  }
  // Parses a single event that must be rejected and returns the detail.
  std::string rejection(std::string_view text) {
    const BodyResult r = parse(text);
    EXPECT_EQ(r.error, BodyError::kNone) << text;
    EXPECT_EQ(seen.size(), 1u) << text;
    if (seen.size() != 1) return {};
    EXPECT_FALSE(seen[0].valid) << text;
    return seen[0].detail;
  }

  EventParser parser;
  PaddedBody body;
  std::vector<Seen> seen;
};

TEST_F(CodecTest, ParsesEveryFieldOfOneEvent) {
  const BodyResult r = parse(R"({"task_id":"job-1","desc":"Copying","n":3,"total":10.5,"unit":"MB",
      "status":"start","timestamp":1700000000.25,"meta":{"host":"w1","tags":["a",1,true,null]},
      "project":"p","phase":"load","message":"hi","error":"bad","unknown":{"deep":[1,{"x":2}]}})");
  ASSERT_EQ(r.error, BodyError::kNone) << r.detail;
  EXPECT_FALSE(r.batch);
  ASSERT_EQ(seen.size(), 1u);
  const Seen& s = seen[0];
  ASSERT_TRUE(s.valid) << s.detail;
  EXPECT_EQ(s.task_id, "job-1");
  EXPECT_EQ(s.desc, "Copying");
  EXPECT_EQ(s.n, 3);
  EXPECT_EQ(s.total, 10.5);
  EXPECT_EQ(s.unit, "MB");
  EXPECT_EQ(s.status, Status::kStart);
  EXPECT_EQ(s.timestamp, 1700000000.25);
  EXPECT_EQ(s.meta, R"({"host":"w1","tags":["a",1,true,null]})");
  EXPECT_EQ(s.project, "p");
  EXPECT_EQ(s.message, "hi");
}

// The bodies Progressista's RemoteTqdm posts (requests' json=, i.e. Python's json.dumps with
// its default separators and ASCII escapes), in the order one bar sends them.
TEST_F(CodecTest, AcceptsWhatRemoteTqdmSends) {
  const char* bodies[] = {
      R"({"status": "start", "n": 0, "total": null, "desc": "", "unit": "it", "task_id": "host:1763887000:140234", "timestamp": 1763887000.123456})",
      R"({"status": "start", "n": 0, "total": 250, "desc": "Copying", "unit": "files", "task_id": "copy-1", "timestamp": 1763887000.5, "meta": {"host": "w1", "pid": 4242}})",
      R"({"status": "update", "n": 17, "total": 250, "desc": "Copying \u00e9t\u00e9", "task_id": "copy-1", "timestamp": 1763887001.25, "meta": {"host": "w1", "pid": 4242}})",
      R"({"status": "update", "n": 3.5, "total": 10.0, "desc": null, "task_id": "float-1", "timestamp": 1763887002})",
      R"({"status": "close", "n": 250, "total": 250, "desc": "Copying", "task_id": "copy-1", "timestamp": 1763887009.75, "meta": {"_token": "s3cret", "host": "w1"}})",
  };
  for (const char* text : bodies) {
    const BodyResult r = parse(text);
    ASSERT_EQ(r.error, BodyError::kNone) << text << ": " << r.detail;
    ASSERT_EQ(seen.size(), 1u);
    ASSERT_TRUE(seen[0].valid) << text << ": " << seen[0].detail;
  }
  EXPECT_EQ(seen[0].status, Status::kClose);
  EXPECT_EQ(seen[0].n, 250);
  EXPECT_EQ(seen[0].meta, R"({"host":"w1"})");
  EXPECT_EQ(seen[0].token, "s3cret");
  parse(bodies[0]);
  EXPECT_FALSE(seen.at(0).total);
  EXPECT_EQ(seen[0].desc, "");
  EXPECT_EQ(seen[0].timestamp, 1763887000.123456);
  parse(bodies[2]);
  EXPECT_EQ(seen.at(0).desc, "Copying \xC3\xA9t\xC3\xA9");
  parse(bodies[3]);
  EXPECT_EQ(seen.at(0).n, 3.5);
  EXPECT_EQ(seen[0].total, 10);
}

TEST_F(CodecTest, NullMeansAbsent) {
  const BodyResult r =
      parse(R"({"task_id":"a","desc":null,"n":null,"total":null,"status":null,"meta":null})");
  ASSERT_EQ(r.error, BodyError::kNone);
  ASSERT_TRUE(seen.at(0).valid) << seen[0].detail;
  EXPECT_FALSE(seen[0].desc);
  EXPECT_FALSE(seen[0].n);
  EXPECT_FALSE(seen[0].total);
  EXPECT_FALSE(seen[0].status);
  EXPECT_FALSE(seen[0].meta);
}

TEST_F(CodecTest, TaskIdIsRequiredAndNonEmpty) {
  EXPECT_EQ(rejection(R"({"n":1})"), "task_id is required");
  EXPECT_EQ(rejection(R"({"task_id":null})"), "task_id is required");
  EXPECT_EQ(rejection(R"({"task_id":""})"), "task_id must not be empty");
}

TEST_F(CodecTest, WrongTypesNameTheFieldAndTheType) {
  EXPECT_EQ(rejection(R"({"task_id":7})"), "task_id must be a string, got number");
  EXPECT_EQ(rejection(R"({"task_id":"a","n":"5"})"), "n must be a number, got string");
  EXPECT_EQ(rejection(R"({"task_id":"a","total":[10]})"), "total must be a number, got array");
  EXPECT_EQ(rejection(R"({"task_id":"a","timestamp":true})"),
            "timestamp must be a number, got boolean");
  EXPECT_EQ(rejection(R"({"task_id":"a","desc":{}})"), "desc must be a string, got object");
  EXPECT_EQ(rejection(R"({"task_id":"a","unit":1})"), "unit must be a string, got number");
  EXPECT_EQ(rejection(R"({"task_id":"a","status":1})"), "status must be a string, got number");
  EXPECT_EQ(rejection(R"({"task_id":"a","meta":[1]})"), "meta must be a JSON object, got array");
  EXPECT_EQ(rejection(R"({"task_id":"a","meta":"x"})"), "meta must be a JSON object, got string");
}

TEST_F(CodecTest, FirstProblemOfAnEventIsReported) {
  EXPECT_EQ(rejection(R"({"task_id":"a","n":"x","total":"y"})"), "n must be a number, got string");
}

TEST_F(CodecTest, TaskIdOverItsLimitIsRejectedAtTheLimitAccepted) {
  const std::string at_limit(limits::kTaskId, 'x');
  parse(R"({"task_id":")" + at_limit + R"("})");
  ASSERT_TRUE(seen.at(0).valid);
  EXPECT_EQ(seen[0].task_id, at_limit);
  EXPECT_EQ(rejection(R"({"task_id":")" + at_limit + R"(x"})"),
            "task_id is 257 bytes; the limit is 256");
}

TEST_F(CodecTest, UnitProjectPhaseOverLimitAreRejected) {
  EXPECT_EQ(rejection(R"({"task_id":"a","unit":")" + std::string(33, 'u') + R"("})"),
            "unit is 33 bytes; the limit is 32");
  EXPECT_THAT(rejection(R"({"task_id":"a","project":")" + std::string(129, 'p') + R"("})"),
              HasSubstr("project is 129 bytes"));
  EXPECT_THAT(rejection(R"({"task_id":"a","phase":")" + std::string(200, 'p') + R"("})"),
              HasSubstr("phase is 200 bytes"));
}

TEST_F(CodecTest, DescAndMessageAreTruncatedAtAUtf8Boundary) {
  // 511 ASCII bytes then "é" (2 bytes): cutting at 512 would split the character.
  const std::string desc = std::string(limits::kDesc - 1, 'a') + "\xC3\xA9" + "tail";
  parse(R"({"task_id":"a","desc":")" + desc + R"(","message":")" + desc + R"("})");
  ASSERT_TRUE(seen.at(0).valid) << seen[0].detail;
  EXPECT_EQ(seen[0].desc, std::string(limits::kDesc - 1, 'a'));
  EXPECT_EQ(seen[0].message, std::string(limits::kMessage - 1, 'a'));
  // Escapes count as the characters they stand for, not their source bytes.
  parse(R"({"task_id":"a","desc":"\u00e9\n"})");
  EXPECT_EQ(seen.at(0).desc, "\xC3\xA9\n");
}

TEST_F(CodecTest, StatusAcceptsAliasesAndListsTheAcceptedOnes) {
  parse(R"({"task_id":"a","status":"Completed"})");
  EXPECT_EQ(seen.at(0).status, Status::kClose);
  parse(R"({"task_id":"a","status":"in_progress"})");
  EXPECT_EQ(seen.at(0).status, Status::kUpdate);
  const std::string detail = rejection(R"({"task_id":"a","status":"exploded"})");
  EXPECT_THAT(detail, HasSubstr("status 'exploded' is not accepted"));
  EXPECT_THAT(detail, HasSubstr("start, update, close, error, stale, recovered"));
}

TEST_F(CodecTest, ProgressMustBeAPercentage) {
  parse(R"({"task_id":"a","progress":42.5})");
  EXPECT_EQ(seen.at(0).progress, 42.5);
  EXPECT_EQ(rejection(R"({"task_id":"a","progress":150})"),
            "progress must be between 0 and 100, got 150");
  EXPECT_EQ(rejection(R"({"task_id":"a","progress":-1})"),
            "progress must be between 0 and 100, got -1");
}

TEST_F(CodecTest, MetaIsMinifiedAndItsTokenTakenOut) {
  parse(R"({"task_id":"a","meta":{ "_token" : "s3cret", "k" : [ 1 , 2.50 ], "s":"q\"\u0001" }})");
  ASSERT_TRUE(seen.at(0).valid) << seen[0].detail;
  EXPECT_EQ(seen[0].meta, R"({"k":[1,2.50],"s":"q\"\u0001"})");
  EXPECT_EQ(seen[0].token, "s3cret");
  // A non-string token is removed too, but is no token.
  parse(R"({"task_id":"a","meta":{"_token":5}})");
  EXPECT_EQ(seen.at(0).meta, "{}");
  EXPECT_FALSE(seen[0].token);
}

TEST_F(CodecTest, MetaOverItsLimitOrTooDeepIsRejected) {
  const std::string big =
      R"({"task_id":"a","meta":{"k":")" + std::string(limits::kMeta, 'm') + R"("}})";
  EXPECT_THAT(rejection(big), HasSubstr("meta is 2056 bytes of JSON; the limit is 2048"));
  std::string deep = R"({"task_id":"a","meta":{"k":)";
  for (int i = 0; i < 40; ++i) deep += "[";
  for (int i = 0; i < 40; ++i) deep += "]";
  deep += "}}";
  EXPECT_EQ(rejection(deep), "meta is nested deeper than 32 levels");
}

TEST_F(CodecTest, BatchesRejectOnlyTheBadEvents) {
  const BodyResult r =
      parse(R"([{"task_id":"a","n":1}, 5, {"n":2}, {"task_id":"b","status":"close"}])");
  ASSERT_EQ(r.error, BodyError::kNone);
  EXPECT_TRUE(r.batch);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_TRUE(seen[0].valid);
  EXPECT_EQ(seen[1].detail, "an event must be a JSON object, got number");
  EXPECT_EQ(seen[2].detail, "task_id is required");
  EXPECT_EQ(seen[3].task_id, "b");
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(seen[i].index, i);
}

TEST_F(CodecTest, BatchMetaSurvivesLaterEvents) {
  parse(R"([{"task_id":"a","meta":{"i":1}},{"task_id":"b","meta":{"i":2}}])");
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].meta, R"({"i":1})");
  EXPECT_EQ(seen[1].meta, R"({"i":2})");
}

TEST_F(CodecTest, EmptyBatchIsFine) {
  const BodyResult r = parse("[]");
  EXPECT_EQ(r.error, BodyError::kNone);
  EXPECT_TRUE(r.batch);
  EXPECT_TRUE(seen.empty());
}

TEST_F(CodecTest, BrokenJsonAnywhereRejectsTheWholeBodyBeforeAnythingIsDelivered) {
  for (std::string_view text : {
           R"([{"task_id":"a"}, {"task_id":"b"},])",
           R"([{"task_id":"a"}, {"task_id":"b")",
           R"({"task_id":"a","unknown":[1,,2]})",
           R"({"task_id":"a","meta":{"k":tru}})",
           R"({"task_id":"a"} {"task_id":"b"})",
           R"({"task_id":"a"} x)",
           R"({"task_id":"a", "n": 01})",
           R"({task_id:"a"})",
       }) {
    const BodyResult r = parse(text);
    EXPECT_EQ(r.error, BodyError::kMalformed) << text;
    EXPECT_THAT(r.detail, HasSubstr("malformed JSON")) << text;
    EXPECT_TRUE(seen.empty()) << text;
  }
}

TEST_F(CodecTest, InvalidUtf8IsMalformed) {
  const BodyResult r = parse("{\"task_id\":\"a\xFF\"}");
  EXPECT_EQ(r.error, BodyError::kMalformed);
  EXPECT_EQ(r.detail, "request body is not valid UTF-8");
}

TEST_F(CodecTest, ScalarsAtTheRootAreTheWrongType) {
  for (std::string_view text : {"5", R"("x")", "true", "null"}) {
    const BodyResult r = parse(text);
    EXPECT_EQ(r.error, BodyError::kWrongType) << text;
    EXPECT_THAT(r.detail, HasSubstr("must be an event object or an array")) << text;
  }
  EXPECT_EQ(parse("tru").error, BodyError::kMalformed);
}

TEST_F(CodecTest, EmptyBodiesAreReported) {
  EXPECT_EQ(parse("").error, BodyError::kEmpty);
  EXPECT_EQ(parse(" \n\t").error, BodyError::kEmpty);
  EXPECT_EQ(parse("\n\n", BodyFormat::kNdjson).error, BodyError::kEmpty);
}

TEST_F(CodecTest, NdjsonParsesEachLineOnItsOwn) {
  const BodyResult r =
      parse("{\"task_id\":\"a\",\"n\":1}\r\n\n{\"task_id\":\"b\"\n[1]\n  {\"task_id\":\"c\"}",
            BodyFormat::kNdjson);
  ASSERT_EQ(r.error, BodyError::kNone);
  EXPECT_TRUE(r.batch);
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_TRUE(seen[0].valid);
  EXPECT_THAT(seen[1].detail, HasSubstr("line 2: malformed JSON"));
  EXPECT_EQ(seen[2].detail, "line 3: an NDJSON line must be one event object, got array");
  EXPECT_EQ(seen[3].task_id, "c");
  EXPECT_EQ(seen[3].index, 3u);
}

TEST_F(CodecTest, OpeningABodyForgetsTheItemsLeftInTheLastOne) {
  PaddedBody first;
  first.assign(R"([{"task_id":"a"},{"task_id":"b"}])");
  ASSERT_EQ(parser.open(first.view(), first.capacity(), BodyFormat::kJson).error, BodyError::kNone);
  ASSERT_TRUE(parser.next().has_value());
  EXPECT_EQ(parse("tru").error, BodyError::kMalformed);
  EXPECT_TRUE(seen.empty());
}

TEST_F(CodecTest, RefusesABufferWithoutPadding) {
  const std::string text = R"({"task_id":"a"})";
  const BodyResult r = parser.open(text, text.size(), BodyFormat::kJson);
  EXPECT_EQ(r.error, BodyError::kMalformed);
  EXPECT_FALSE(parser.next().has_value());
}

std::string json_string(std::string_view s) {
  fmt::memory_buffer out;
  append_json_string(out, s);
  return fmt::to_string(out);
}

TEST(JsonOut, StringsAreEscaped) {
  EXPECT_EQ(json_string("plain"), R"("plain")");
  EXPECT_EQ(json_string("q\"b\\n\nt\tc\x01"), R"("q\"b\\n\nt\tc\u0001")");
  EXPECT_EQ(json_string("caf\xC3\xA9"), "\"caf\xC3\xA9\"");
}

TEST(JsonOut, NumbersRoundTripAndNonFiniteBecomesNull) {
  fmt::memory_buffer out;
  append_json_number(out, 0.1);
  out.push_back(' ');
  append_json_number(out, 3);
  out.push_back(' ');
  append_json_number(out, std::numeric_limits<double>::quiet_NaN());
  out.push_back(' ');
  append_json_number(out, -std::numeric_limits<double>::infinity());
  EXPECT_EQ(fmt::to_string(out), "0.1 3 null null");
}

TEST(JsonOut, TaskHasProgressistasShapeAndOrder) {
  TaskRecord t;
  t.task_id.assign("job");
  t.n = 5;
  t.status = Status::kUpdate;
  t.created_at = 100;
  t.updated_at = 101;
  fmt::memory_buffer out;
  append_task_json(out, t);
  EXPECT_EQ(
      fmt::to_string(out),
      R"({"task_id":"job","n":5,"total":null,"status":"update","created_at":100,"updated_at":101})");

  t.desc.assign("d"), t.set(kHasDesc);
  t.total = 10, t.set(kHasTotal);
  t.unit.assign("it"), t.set(kHasUnit);
  t.timestamp = 100.5, t.set(kHasTimestamp);
  t.meta.assign(R"({"k":1})"), t.set(kHasMeta);
  t.status = Status::kRecovered;
  t.recovered_at = 102, t.set(kHasRecovered);
  t.project.assign("p"), t.set(kHasProject);
  t.error.assign("e"), t.set(kHasError);
  t.rate = 2.5, t.set(kHasRate);
  out.clear();
  append_task_json(out, t);
  EXPECT_EQ(
      fmt::to_string(out),
      R"({"task_id":"job","desc":"d","n":5,"total":10,"unit":"it","status":"recovered",)"
      R"("timestamp":100.5,"meta":{"k":1},"created_at":100,"updated_at":101,"recovered":true,)"
      R"("recovered_at":102,"project":"p","error":"e","rate":2.5,"eta":2})");
}

TEST(Status, NamesAndAliases) {
  for (int i = 0; i < kStatusCount; ++i) {
    const auto s = static_cast<Status>(i);
    EXPECT_EQ(parse_status(status_name(s)), s);
  }
  EXPECT_EQ(parse_status("DONE"), Status::kClose);
  EXPECT_EQ(parse_status("in-progress"), Status::kUpdate);
  EXPECT_EQ(parse_status("Failed"), Status::kError);
  EXPECT_EQ(parse_status("started"), Status::kStart);
  EXPECT_FALSE(parse_status(""));
  EXPECT_FALSE(parse_status("a-very-long-status-name"));
  EXPECT_FALSE(parse_status("closing"));
  EXPECT_TRUE(is_terminal(Status::kClose));
  EXPECT_TRUE(is_terminal(Status::kError));
  EXPECT_FALSE(is_terminal(Status::kStale));
}

}  // namespace
}  // namespace progressista
