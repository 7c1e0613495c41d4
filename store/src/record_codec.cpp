#include "record_codec.hpp"

#include <algorithm>
#include <cstring>

namespace progressista::detail {

namespace {

// The string fields in encoding order, with their limits.
template <class Rec, class F>
void for_each_string(Rec& rec, F&& f) {
  f(rec.task_id);
  f(rec.desc);
  f(rec.unit);
  f(rec.project);
  f(rec.phase);
  f(rec.message);
  f(rec.error);
  f(rec.meta);
}

}  // namespace

std::size_t encoded_size(const TaskRecord& rec) noexcept {
  std::size_t n = sizeof(RecordHead);
  for_each_string(rec, [&](const auto& s) { n += s.size(); });
  return n;
}

void encode(const TaskRecord& rec, char* out) noexcept {
  RecordHead h{};
  h.fields = rec.fields;
  h.status = rec.status;
  h.live = rec.live;
  h.change_seq = rec.change_seq;
  h.n = rec.n;
  h.total = rec.total;
  h.timestamp = rec.timestamp;
  h.created_at = rec.created_at;
  h.updated_at = rec.updated_at;
  h.done_at = rec.done_at;
  h.stale_at = rec.stale_at;
  h.recovered_at = rec.recovered_at;
  h.rate = rec.rate;
  h.rate_n = rec.rate_n;
  h.rate_t = rec.rate_t;
  std::size_t i = 0;
  char* p = out + sizeof(RecordHead);
  for_each_string(rec, [&](const auto& s) {
    h.len[i++] = static_cast<std::uint16_t>(s.size());
    std::memcpy(p, s.data, s.size());
    p += s.size();
  });
  std::memcpy(out, &h, sizeof h);
}

void decode(const char* in, std::size_t size, TaskRecord& rec) noexcept {
  RecordHead h;
  if (size < sizeof h) {
    rec.live = 0;
    return;
  }
  std::memcpy(&h, in, sizeof h);
  rec.fields = h.fields;
  rec.status = static_cast<std::uint8_t>(h.status) < kStatusCount ? h.status : Status::kUpdate;
  rec.live = h.live;
  rec.change_seq = h.change_seq;
  rec.n = h.n;
  rec.total = h.total;
  rec.timestamp = h.timestamp;
  rec.created_at = h.created_at;
  rec.updated_at = h.updated_at;
  rec.done_at = h.done_at;
  rec.stale_at = h.stale_at;
  rec.recovered_at = h.recovered_at;
  rec.rate = h.rate;
  rec.rate_n = h.rate_n;
  rec.rate_t = h.rate_t;
  std::size_t i = 0;
  std::size_t at = sizeof h;
  for_each_string(rec, [&](auto& s) {
    const std::size_t n = std::min<std::size_t>({h.len[i++], s.capacity(), size - at});
    std::memcpy(s.data, in + at, n);
    s.len = static_cast<std::uint16_t>(n);
    at += n;
  });
}

std::size_t id_prefix_size(const RecordHead& head) noexcept {
  return sizeof(RecordHead) + std::min<std::size_t>(head.len[0], limits::kTaskId);
}

}  // namespace progressista::detail
