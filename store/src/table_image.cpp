#include "progressista/table_image.hpp"

#include <cstdint>
#include <cstring>
#include <vector>

#include "record_codec.hpp"

namespace progressista {

namespace {
// The codec's layout changes with kLayoutVersion; an image names the one it was made with.
constexpr std::string_view kMagic = "PTI4";
}  // namespace

void append_table_image(std::string& out, const TaskTable& table) {
  out.append(kMagic);
  std::vector<char> buf;
  table.for_each([&](const TaskRecord& t) {
    const std::size_t n = detail::encoded_size(t);
    buf.resize(n);
    detail::encode(t, buf.data());
    const auto size = static_cast<std::uint32_t>(n);
    out.append(reinterpret_cast<const char*>(&size), sizeof size);
    out.append(buf.data(), n);
  });
}

std::string read_table_image(std::string_view image,
                             const std::function<void(const TaskRecord&)>& each) {
  if (!image.starts_with(kMagic)) return "not a task table image of this version";
  image.remove_prefix(kMagic.size());
  TaskRecord rec;
  while (!image.empty()) {
    std::uint32_t size = 0;
    if (image.size() < sizeof size) return "truncated image";
    std::memcpy(&size, image.data(), sizeof size);
    image.remove_prefix(sizeof size);
    if (size < sizeof(detail::RecordHead) || size > detail::kMaxRecordBytes || size > image.size())
      return "truncated or corrupt image";
    rec = TaskRecord{};
    detail::decode(image.data(), size, rec);
    image.remove_prefix(size);
    each(rec);
  }
  return "";
}

}  // namespace progressista
