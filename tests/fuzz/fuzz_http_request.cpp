// libFuzzer harness for the HTTP request path: any byte string is what one client sends on one
// connection. As the daemon's session does (daemon/http/http_session.cpp), each request's
// header goes through Beast's parser with the daemon's limits (limit_request), then the
// framing check (check_framing, framing_refusal); an accepted request's body is read and the
// request dispatched to the ingest role's handler over a real segment; pipelined requests
// follow while the connection is kept alive, and a refusal ends the connection. Traps: a
// refusal without a 400/501 and a detail; an accepted request whose body the parser delimits
// otherwise than its header says, or that keeps a trailer field; an answer without a valid status
// or, for an error, without
// {"detail": ...}.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <iterator>
#include <memory>
#include <string_view>

#include <fmt/format.h>
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/status.hpp>

#include "http/request_framing.hpp"
#include "http/routes.hpp"
#include "http/stream.hpp"
#include "ingest/ingest_api.hpp"
#include "progressista/event_parser.hpp"
#include "progressista/store.hpp"

namespace {

using namespace progressista;
using namespace progressista::daemon;
namespace http = boost::beast::http;

[[noreturn]] void fail(const char* what) {
  std::fputs(what, stderr);
  std::fputc('\n', stderr);
  __builtin_trap();
}

// A daemon started with --body-limit 2048, so that bodies over the limit are within reach of
// inputs of a few KiB; every other limit is the session's own.
constexpr std::size_t kBodyLimit = 2048;
// Requests dispatched per input at most (pipelining); the rest of the input is dropped.
constexpr int kMaxRequests = 16;

// The ingest role over a segment of its own: 64 tasks, so that a full table is reachable. The
// segment's name is removed at once (the mapping stays), so no run leaves it behind.
struct Daemon {
  Daemon()
      : store(open_store()),
        ctx{*store, TokenSet{}, Cors({"*"}), Role::kIngest},
        handler(ctx, routes(ctx)) {}

  static std::unique_ptr<Store> open_store() {
    SegmentOptions o;
    o.name = fmt::format("progressista-fuzz-http-{}", ::getpid());
    o.capacity = 64;
    Segment::remove(o.name);
    auto s = Store::open(o);
    Segment::remove(o.name);
    return s;
  }
  static std::vector<std::unique_ptr<Routes>> routes(ApiContext& ctx) {
    std::vector<std::unique_ptr<Routes>> groups;
    groups.push_back(std::make_unique<IngestRoutes>(ctx));
    return groups;
  }

  std::unique_ptr<Store> store;
  ApiContext ctx;
  RoleHandler handler;
};

// Feeds `in` to the parser until its header (or whole message) is in. False when the input
// ends first (the session would wait for more until its timer: no request) or on an error.
bool feed(RequestParser& parser, std::string_view& in, bool whole, boost::system::error_code& ec) {
  parser.eager(whole);
  while (whole ? !parser.is_done() : !parser.is_header_done()) {
    if (in.empty()) return false;
    const std::size_t n = parser.put(boost::asio::buffer(in.data(), in.size()), ec);
    in.remove_prefix(n);
    if (ec == http::error::need_more) ec = {};
    if (ec || n == 0) return false;  // an error, or what is left is not enough
  }
  return true;
}

void check_refusal(const FramingRefusal& r) {
  if (r.status != 400 && r.status != 501) fail("framing refused with another status");
  if (r.status == 501 && r.counter != Counter::kRejectedFraming) fail("501 not counted as framing");
  if (r.counter != Counter::kRejectedFraming && r.counter != Counter::kRejectedBadRequest)
    fail("framing refusal counted elsewhere");
  if (r.detail.empty()) fail("framing refused without a detail");
}

// The body the parser read is the one the accepted header announces: chunked exactly when
// Transfer-Encoding is there, Content-Length bytes when that is there, else none.
void check_delimited(const RequestParser& parser) {
  const auto& req = parser.get();
  const bool te = req.count(http::field::transfer_encoding) > 0;
  if (te != parser.chunked()) fail("Transfer-Encoding and the parser disagree");
  if (te && req.count(http::field::content_length) > 0)
    fail("Transfer-Encoding with Content-Length");
  if (!te) {
    const auto length = parser.content_length();
    if (length.has_value() != (req.count(http::field::content_length) > 0))
      fail("Content-Length and the parser disagree");
    if (req.body().size() != length.value_or(0)) fail("body length is not Content-Length");
  }
  if (req.version() >= 11 && req.count(http::field::host) != 1) fail("HTTP/1.1 without one Host");
}

void check_response(const HttpResponse& response) {
  if (http::int_to_status(static_cast<unsigned>(response.status)) == http::status::unknown ||
      response.status < 200)
    fail("answer without a valid status");
  if (response.content_type.empty()) fail("answer without a content type");
  if (response.status >= 400 && !std::string_view(response.body).starts_with(R"({"detail":)"))
    fail("error answer without a detail");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Daemon daemon;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  for (int served = 0; served < kMaxRequests && !in.empty(); ++served) {
    RequestParser parser;
    limit_request(parser, kBodyLimit);
    boost::system::error_code ec;
    if (!feed(parser, in, false, ec)) {
      if (const auto refusal = framing_refusal(ec)) check_refusal(*refusal);
      return 0;  // answered 400/413/431 or nothing, and closed
    }
    if (const auto refusal = check_framing(parser)) {
      check_refusal(*refusal);
      return 0;  // answered and closed: nothing after this header is read
    }
    auto header = fields_before_body(parser);
    const auto fields = std::distance(parser.get().begin(), parser.get().end());
    if (!feed(parser, in, true, ec)) {
      // Content-Length or Transfer-Encoding in a chunked body's trailer: refused as well.
      if (const auto refusal = framing_refusal(ec)) check_refusal(*refusal);
      return 0;
    }
    drop_trailers(parser, std::move(header));
    if (std::distance(parser.get().begin(), parser.get().end()) != fields)
      fail("trailer fields kept");
    check_delimited(parser);

    // Dispatch, as Session::dispatch does: padding for the JSON parser, the adapter, the role.
    auto& req = parser.get();
    req.body().reserve(req.body().size() + kParsePadding);
    const BeastRequest adapter(req, "127.0.0.1:1");
    HttpResponse response;
    daemon.handler.handle(adapter.view(), response);
    check_response(response);
    if (!req.keep_alive()) return 0;
  }
  return 0;
}
