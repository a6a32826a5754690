#include "retry_policy.hpp"

#include <algorithm>
#include <memory>
#include <random>
#include <stdexcept>

#include "pure_cpp.hpp"

namespace plivo {

UniformRandom make_uniform_random() {
    auto engine = std::make_shared<std::mt19937_64>(std::random_device{}());
    return [engine]() { return std::uniform_real_distribution<double>(0.0, 1.0)(*engine); };
}

RetryPolicy::RetryPolicy(RetryConfig config) : config_(config) {
    if (config_.base.count() <= 0) throw std::invalid_argument("retry base delay must be positive");
    if (config_.cap < config_.base)
        throw std::invalid_argument("retry cap must be at least the base");
    if (config_.max_attempts < 1) throw std::invalid_argument("max attempts must be at least 1");
}

std::chrono::milliseconds RetryPolicy::ceiling(int attempts_made) const {
    auto delay = config_.base;
    for (int i = 1; i < attempts_made && delay < config_.cap; ++i) delay *= 2;  // no overflow
    return std::min(delay, config_.cap);
}

RetryDecision RetryPolicy::next(int attempts_made, const std::string& last_error,
                                std::optional<std::chrono::seconds> retry_after,
                                const UniformRandom& random) const {
    RetryDecision decision;
    if (attempts_made >= config_.max_attempts) {
        decision.give_up = true;
        decision.reason = "gave up after " + std::to_string(attempts_made) +
                          (attempts_made == 1 ? " attempt: " : " attempts: ") + last_error;
        return decision;
    }
    double fraction = std::clamp(random(), 0.0, 1.0);
    auto top = ceiling(std::max(attempts_made, 1));
    decision.delay = std::chrono::milliseconds(
        static_cast<std::chrono::milliseconds::rep>(fraction * static_cast<double>(top.count())));
    decision.delay = std::min(decision.delay, top);
    if (retry_after)
        decision.delay = std::max<std::chrono::milliseconds>(decision.delay, *retry_after);
    return decision;
}

}  // namespace plivo
