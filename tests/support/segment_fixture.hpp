// Shared test helpers: unique segment names that are removed afterwards, and event builders.
#pragma once

#include <unistd.h>

#include <atomic>
#include <string>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "progressista/event.hpp"
#include "progressista/segment.hpp"
#include "progressista/store.hpp"

namespace progressista::testing {

// A segment name no other test (or concurrent test process) uses; removed on destruction.
class ScopedSegmentName {
 public:
  ScopedSegmentName() {
    static std::atomic<int> counter{0};
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    name_ = fmt::format("pt-{}-{}-{}", ::getpid(), counter++, info ? info->name() : "x");
    if (name_.size() > 120) name_.resize(120);
    Segment::remove(name_);
  }
  ~ScopedSegmentName() { Segment::remove(name_); }
  ScopedSegmentName(const ScopedSegmentName&) = delete;
  ScopedSegmentName& operator=(const ScopedSegmentName&) = delete;
  [[nodiscard]] const std::string& str() const { return name_; }

 private:
  std::string name_;
};

inline SegmentOptions options(const ScopedSegmentName& name, std::uint32_t capacity = 64) {
  SegmentOptions o;
  o.name = name.str();
  o.capacity = capacity;
  return o;
}

// Builds events fluently: ev("a").n(3).total(10).status(Status::kUpdate)
class EventBuilder {
 public:
  explicit EventBuilder(std::string_view id) { e_.task_id = id; }
  EventBuilder& n(double v) {
    e_.n = v;
    return *this;
  }
  EventBuilder& total(double v) {
    e_.total = v;
    return *this;
  }
  EventBuilder& progress(double v) {
    e_.progress = v;
    return *this;
  }
  EventBuilder& ts(double v) {
    e_.timestamp = v;
    return *this;
  }
  EventBuilder& status(Status s) {
    e_.status = s;
    return *this;
  }
  EventBuilder& desc(std::string_view v) {
    e_.desc = v;
    return *this;
  }
  EventBuilder& unit(std::string_view v) {
    e_.unit = v;
    return *this;
  }
  EventBuilder& meta(std::string_view v) {
    e_.meta = v;
    return *this;
  }
  EventBuilder& message(std::string_view v) {
    e_.message = v;
    return *this;
  }
  EventBuilder& error(std::string_view v) {
    e_.error = v;
    return *this;
  }
  EventBuilder& project(std::string_view v) {
    e_.project = v;
    return *this;
  }
  EventBuilder& phase(std::string_view v) {
    e_.phase = v;
    return *this;
  }
  EventBuilder& parent(std::string_view v) {
    e_.parent = v;
    return *this;
  }
  operator const Event&() const { return e_; }  // NOLINT(google-explicit-constructor)
  [[nodiscard]] const Event& get() const { return e_; }

 private:
  Event e_;
};

inline EventBuilder ev(std::string_view id) {
  return EventBuilder(id);
}

}  // namespace progressista::testing
