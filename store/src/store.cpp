#include "progressista/store.hpp"

namespace progressista {

Store::Store(std::unique_ptr<Segment> seg)
    : segment_(std::move(seg)),
      feed_(*segment_),
      counters_(segment_->header()),
      table_(*segment_, feed_, counters_),
      processes_(segment_->header()),
      janitor_(segment_->header()) {}

std::unique_ptr<Store> Store::open(const SegmentOptions& opt) {
  return std::unique_ptr<Store>(new Store(Segment::open(opt)));
}

}  // namespace progressista
