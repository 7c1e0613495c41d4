#include "record_codec.hpp"

#include <algorithm>
#include <cstddef>
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

bool carries_parent(const TaskRecord& rec) noexcept {
  return rec.has(kHasParent) && rec.parent.size() > 0;
}

}  // namespace

std::size_t encoded_size(const TaskRecord& rec) noexcept {
  std::size_t n = sizeof(RecordHead);
  for_each_string(rec, [&](const auto& s) { n += s.size(); });
  if (carries_parent(rec)) n += rec.parent.size();
  if (rec.has_family()) n += kFamilyBytes;
  return n;
}

// The numbers lead both structures in the same order: one copy moves them.
static_assert(kNumbersSize == offsetof(RecordHead, len));
static_assert(offsetof(TaskRecord, fields) == offsetof(RecordHead, fields) &&
              offsetof(TaskRecord, status) == offsetof(RecordHead, status) &&
              offsetof(TaskRecord, live) == offsetof(RecordHead, live) &&
              offsetof(TaskRecord, change_seq) == offsetof(RecordHead, change_seq) &&
              offsetof(TaskRecord, n) == offsetof(RecordHead, n) &&
              offsetof(TaskRecord, rate_t) == offsetof(RecordHead, rate_t) &&
              offsetof(TaskRecord, acknowledged_at) == offsetof(RecordHead, acknowledged_at));

void encode(const TaskRecord& rec, char* out) noexcept {
  RecordHead h;
  std::memcpy(static_cast<void*>(&h), &rec, kNumbersSize);
  h.reserved = 0;
  std::size_t i = 0;
  char* p = out + sizeof(RecordHead);
  for_each_string(rec, [&](const auto& s) {
    const std::size_t n = s.size();
    h.len[i++] = static_cast<std::uint16_t>(n);
    std::memcpy(p, s.data, n);
    p += n;
  });
  h.fields &= ~(kHasParent | kHasFamily);
  if (carries_parent(rec)) {
    h.fields |= kHasParent;
    h.reserved = static_cast<std::uint16_t>(rec.parent.size());
    std::memcpy(p, rec.parent.data, rec.parent.size());
    p += rec.parent.size();
  }
  if (rec.has_family()) {
    h.fields |= kHasFamily;
    const double sums[2] = {rec.kid_n, rec.kid_total};
    const std::int32_t counts[4] = {rec.kids, rec.kids_closed, rec.kids_failed,
                                    rec.kids_untotalled};
    std::memcpy(p, sums, sizeof sums);
    std::memcpy(p + sizeof sums, counts, sizeof counts);
  }
  std::memcpy(out, &h, sizeof h);
}

void decode(const char* in, std::size_t size, TaskRecord& rec) noexcept {
  if (size < sizeof(RecordHead)) {
    rec.live = 0;
    return;
  }
  std::memcpy(static_cast<void*>(&rec), in, kNumbersSize);
  if (static_cast<std::uint8_t>(rec.status) >= kStatusCount) rec.status = Status::kUpdate;
  std::uint16_t len[kStringFields];
  std::memcpy(len, in + offsetof(RecordHead, len), sizeof len);
  std::size_t i = 0;
  std::size_t at = sizeof(RecordHead);
  for_each_string(rec, [&](auto& s) {
    const std::size_t n = std::min<std::size_t>({len[i++], s.capacity(), size - at});
    std::memcpy(s.data, in + at, n);
    s.len = static_cast<std::uint16_t>(n);
    at += n;
  });
  rec.parent.len = 0;
  if (rec.has(kHasParent)) {
    std::uint16_t plen = 0;
    std::memcpy(&plen, in + offsetof(RecordHead, reserved), sizeof plen);
    const std::size_t n = std::min<std::size_t>({plen, limits::kTaskId, size - at});
    std::memcpy(rec.parent.data, in + at, n);
    rec.parent.len = static_cast<std::uint16_t>(n);
    at += n;
  }
  rec.clear_family();
  if (rec.has(kHasFamily) && size - at >= kFamilyBytes) {
    double sums[2];
    std::int32_t counts[4];
    std::memcpy(sums, in + at, sizeof sums);
    std::memcpy(counts, in + at + sizeof sums, sizeof counts);
    rec.kid_n = sums[0];
    rec.kid_total = sums[1];
    rec.kids = counts[0];
    rec.kids_closed = counts[1];
    rec.kids_failed = counts[2];
    rec.kids_untotalled = counts[3];
  }
}

std::size_t stored_size(const char* enc, std::size_t limit) noexcept {
  std::uint16_t len[kStringFields];
  std::memcpy(len, enc + offsetof(RecordHead, len), sizeof len);
  std::size_t n = sizeof(RecordHead);
  for (std::uint16_t l : len) n += l;
  RecordHead head;
  std::memcpy(static_cast<void*>(&head), enc, offsetof(RecordHead, len));
  n += tail_size(head);
  return std::min(n, limit);
}

bool same_strings(const char* enc, std::size_t size, const Event& e) noexcept {
  std::uint16_t len[kStringFields];
  std::memcpy(len, enc + offsetof(RecordHead, len), sizeof len);
  const std::optional<std::string_view>* fields[kStringFields] = {
      nullptr, &e.desc, &e.unit, &e.project, &e.phase, &e.message, &e.error, &e.meta};
  std::size_t at = sizeof(RecordHead);
  for (std::size_t i = 0; i < kStringFields; ++i) {
    if (at + len[i] > size) return false;
    if (fields[i] != nullptr && fields[i]->has_value()) {
      const std::string_view v = **fields[i];
      if (v.size() != len[i] || (len[i] != 0 && std::memcmp(v.data(), enc + at, len[i]) != 0))
        return false;
    }
    at += len[i];
  }
  if (e.parent) {
    // The parent is stored after the strings (kHasParent, its length in `reserved`).
    std::uint32_t fields = 0;
    std::uint16_t plen = 0;
    std::memcpy(&fields, enc + offsetof(RecordHead, fields), sizeof fields);
    std::memcpy(&plen, enc + offsetof(RecordHead, reserved), sizeof plen);
    if (!(fields & kHasParent)) plen = 0;
    if (e.parent->size() != plen || at + plen > size ||
        (plen != 0 && std::memcmp(e.parent->data(), enc + at, plen) != 0))
      return false;
  }
  return true;
}

std::size_t id_prefix_size(const RecordHead& head) noexcept {
  return sizeof(RecordHead) + std::min<std::size_t>(head.len[0], limits::kTaskId);
}

}  // namespace progressista::detail
