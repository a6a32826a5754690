#include "sliding_window.hpp"

#include <algorithm>
#include <stdexcept>

#include "pure_cpp.hpp"

namespace plivo {

namespace {

void check(std::size_t limit, SlidingWindow::Clock::duration length) {
    if (limit < 1) throw std::invalid_argument("window limit must be at least 1");
    if (length <= SlidingWindow::Clock::duration::zero())
        throw std::invalid_argument("window length must be positive");
}

}  // namespace

SlidingWindow::SlidingWindow(std::size_t limit, Clock::duration length)
    : limit_(limit), length_(length) {
    check(limit, length);
}

// Events in (now - length, now]: one at t has left the window once now >= t + length.
std::size_t SlidingWindow::counted(Clock::time_point now) const {
    auto first_in = std::upper_bound(times_.begin(), times_.end(), now - length_);
    return static_cast<std::size_t>(times_.end() - first_in);
}

std::size_t SlidingWindow::room(Clock::time_point now) const {
    std::size_t n = counted(now);
    return n < limit_ ? limit_ - n : 0;
}

SlidingWindow::Clock::duration SlidingWindow::wait_time(Clock::time_point now) const {
    std::size_t n = counted(now);
    if (n < limit_) return Clock::duration::zero();
    // times_ holds at most limit_ events, all counted: the oldest must leave.
    return times_.front() + length_ - now;
}

void SlidingWindow::record(Clock::time_point now) {
    // An injected clock that went back still keeps the times in order.
    if (!times_.empty()) now = std::max(now, times_.back());
    times_.push_back(now);
    // What has left the window is dropped, so memory follows the rate really sent.
    while (times_.size() > limit_ || times_.front() + length_ <= now) times_.pop_front();
}

void SlidingWindow::set_limit(std::size_t limit, Clock::duration length) {
    check(limit, length);
    limit_ = limit;
    length_ = length;
    while (times_.size() > limit_) times_.pop_front();
}

}  // namespace plivo
