#include "notify/message.hpp"

#include <cmath>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <simdjson.h>

#include "live/board_rules.hpp"
#include "progressista/task_json.hpp"

namespace progressista::daemon::notify {

namespace {

std::string hex(const unsigned char* p, std::size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = kDigits[p[i] >> 4];
    out[2 * i + 1] = kDigits[p[i] & 15];
  }
  return out;
}

std::string sha256_hex(std::string_view data, std::size_t digits) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string h = hex(md, len);
  h.resize(std::min(digits, h.size()));
  return h;
}

// At most this many transitions are listed in a digest's text (all are in the JSON).
constexpr std::size_t kListed = 50;

void append_item(fmt::memory_buffer& out, const Fired& f, const std::string& key) {
  out.append(std::string_view{"\"transition\":"});
  append_json_string(out, transition_name(f.transition));
  out.append(std::string_view{",\"time\":"});
  append_json_number(out, f.time);
  out.append(std::string_view{",\"idempotency_key\":"});
  append_json_string(out, key);
  out.append(std::string_view{",\"task\":"});
  append_task_json(out, f.task, f.transition == Transition::kStalled);
}

}  // namespace

std::string idempotency_key(std::string_view task_id, Transition t, double time) {
  const std::string material =
      fmt::format("{}\n{}\n{:.6f}", task_id, transition_name(t), time);
  return sha256_hex(material, 32);
}

std::string digest_key(const std::vector<std::string>& keys) {
  std::string material;
  for (const auto& k : keys) {
    material += k;
    material.push_back('\n');
  }
  return sha256_hex(material, 32);
}

std::string signature(std::string_view secret, std::string_view body) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), md, &len);
  return "sha256=" + hex(md, len);
}

std::string task_project(const TaskRecord& t, std::string_view separators) {
  if (t.has(kHasProject)) return std::string(t.project.view());
  if (t.has(kHasMeta) && t.meta.view().find("project") != std::string_view::npos) {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::object object;
    std::string_view project;
    if (parser.parse(t.meta.view().data(), t.meta.view().size()).get(object) ==
            simdjson::SUCCESS &&
        object["project"].get(project) == simdjson::SUCCESS)
      return std::string(project);
  }
  return std::string(project_from_id(t.task_id.view(), separators));
}

std::string describe(const Fired& f, std::string_view project) {
  const TaskRecord& t = f.task;
  std::string what;
  switch (f.transition) {
    case Transition::kFailed:
      what = "failed";
      if (t.has(kHasError) && t.error.size() > 0) what += fmt::format(": {}", t.error.view());
      break;
    case Transition::kClosed: what = "closed"; break;
    case Transition::kEndedEarly:
      what = fmt::format("ended early at {:.0f}% ({:g} of {:g})",
                         std::floor(std::max(0.0, t.n) / t.total * 100), t.n, t.total);
      break;
    case Transition::kStalled:
      what = fmt::format("stalled: no event for {:.0f} s", std::max(0.0, f.time - t.updated_at));
      break;
    case Transition::kLost: what = "lost: marked stale by the janitor"; break;
  }
  if (project.empty()) return fmt::format("task `{}` {}", t.task_id.view(), what);
  return fmt::format("task `{}` (project {}) {}", t.task_id.view(), project, what);
}

std::string_view content_type(TargetKind k) noexcept {
  return k == TargetKind::kNtfy ? "text/plain; charset=utf-8" : "application/json";
}

Message compose(const Rule& rule, const std::vector<Fired>& items, double now,
                std::string_view separators) {
  Message m;
  m.rule = rule.name;
  m.created = now;
  m.next_attempt = now;
  std::vector<std::string> keys;
  keys.reserve(items.size());
  for (const Fired& f : items)
    keys.push_back(idempotency_key(f.task.task_id.view(), f.transition, f.time));
  m.key = items.size() == 1 ? keys.front() : digest_key(keys);

  std::string text;
  if (items.size() == 1) {
    text = describe(items.front(), task_project(items.front().task, separators));
  } else {
    text = fmt::format("{} transitions ({}):", items.size(), rule.name);
    for (std::size_t i = 0; i < items.size() && i < kListed; ++i)
      text += "\n- " + describe(items[i], task_project(items[i].task, separators));
    if (items.size() > kListed) text += fmt::format("\n… and {} more", items.size() - kListed);
  }

  fmt::memory_buffer out;
  switch (rule.kind) {
    case TargetKind::kWebhook:
      out.append(std::string_view{"{\"rule\":"});
      append_json_string(out, rule.name);
      if (items.size() == 1) {
        out.push_back(',');
        append_item(out, items.front(), keys.front());
      } else {
        fmt::format_to(std::back_inserter(out), ",\"digest\":true,\"count\":{}", items.size());
        out.append(std::string_view{",\"idempotency_key\":"});
        append_json_string(out, m.key);
        out.append(std::string_view{",\"transitions\":["});
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (i) out.push_back(',');
          out.push_back('{');
          append_item(out, items[i], keys[i]);
          out.push_back('}');
        }
        out.push_back(']');
      }
      out.push_back('}');
      m.body = fmt::to_string(out);
      break;
    case TargetKind::kSlack:
      out.append(std::string_view{"{\"text\":"});
      append_json_string(out, "Progressista: " + text);
      out.push_back('}');
      m.body = fmt::to_string(out);
      break;
    case TargetKind::kNtfy:
      m.title = items.size() == 1
                    ? fmt::format("Progressista: {} {}", items.front().task.task_id.view(),
                                  transition_name(items.front().transition))
                    : fmt::format("Progressista: {} transitions", items.size());
      m.body = text;
      break;
  }
  return m;
}

}  // namespace progressista::daemon::notify
