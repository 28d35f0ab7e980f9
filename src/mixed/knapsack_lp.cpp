// LP relaxation of the multiple-choice knapsack (see knapsack_lp.hpp).
#include "mixed/knapsack_lp.hpp"

#include <algorithm>
#include <limits>
#include <queue>

namespace palettize::knapsack {

std::vector<Point> efficient_points(const AllocationGroup& group, std::span<const int> allowed) {
  std::vector<Point> points;
  for (int c : allowed) points.push_back({group.sizes[c], group.costs[c], c});
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    if (a.size != b.size) return a.size < b.size;
    if (a.cost != b.cost) return a.cost < b.cost;
    return a.candidate < b.candidate;
  });
  std::vector<Point> kept;
  for (const Point& p : points) {
    if (kept.empty() || p.cost < kept.back().cost) kept.push_back(p);
  }
  return kept;
}

std::vector<Point> lower_hull(const std::vector<Point>& points) {
  std::vector<Point> hull;
  for (const Point& p : points) {
    while (hull.size() >= 2) {
      const Point& a = hull[hull.size() - 2];
      const Point& b = hull.back();
      // b stays only if it lies strictly below the segment a-p.
      const long double cross = static_cast<long double>(b.size - a.size) * (p.cost - a.cost) -
                                static_cast<long double>(b.cost - a.cost) * (p.size - a.size);
      if (cross > 0) break;
      hull.pop_back();
    }
    hull.push_back(p);
  }
  return hull;
}

// Greedy over hull segments by cost saved per bit; a priority queue exposes each group's next segment only,
// so the within-group order holds whatever the rounding of the rates.
LpSolution solve_lp(std::span<const std::vector<Point>> hulls, int64_t budget) {
  LpSolution lp;
  lp.at.assign(hulls.size(), 0);
  for (const auto& hull : hulls) {
    lp.size += hull.front().size;
    lp.cost += hull.front().cost;
  }
  if (lp.size > budget) return lp;
  lp.feasible = true;
  struct Segment {
    double rate;
    std::size_t group;
  };
  auto worse = [](const Segment& a, const Segment& b) {
    if (a.rate != b.rate) return a.rate < b.rate;
    return a.group > b.group;
  };
  std::priority_queue<Segment, std::vector<Segment>, decltype(worse)> queue(worse);
  auto push_next = [&](std::size_t g) {
    const auto& hull = hulls[g];
    const std::size_t i = lp.at[g];
    if (i + 1 >= hull.size()) return;
    const double rate = (hull[i].cost - hull[i + 1].cost) / static_cast<double>(hull[i + 1].size - hull[i].size);
    queue.push({rate, g});
  };
  for (std::size_t g = 0; g < hulls.size(); ++g) push_next(g);
  lp.value = lp.cost;
  while (!queue.empty()) {
    const Segment segment = queue.top();
    queue.pop();
    const auto& hull = hulls[segment.group];
    const Point& from = hull[lp.at[segment.group]];
    const Point& to = hull[lp.at[segment.group] + 1];
    const int64_t extra = to.size - from.size;
    if (lp.size + extra > budget) {
      lp.lambda = segment.rate;
      lp.value = lp.cost - segment.rate * static_cast<double>(budget - lp.size);
      return lp;
    }
    lp.size += extra;
    lp.cost += to.cost - from.cost;
    lp.value = lp.cost;
    ++lp.at[segment.group];
    push_next(segment.group);
  }
  return lp;
}

RemainderLp::RemainderLp(const std::vector<std::vector<Point>>& hulls)
    : of_group_(hulls.size()), base_size_of_(hulls.size()), base_cost_of_(hulls.size()) {
  for (std::size_t g = 0; g < hulls.size(); ++g) {
    base_size_of_[g] = hulls[g].front().size;
    base_cost_of_[g] = hulls[g].front().cost;
    base_size_ += base_size_of_[g];
    base_cost_ += base_cost_of_[g];
    for (std::size_t i = 0; i + 1 < hulls[g].size(); ++i) {
      const int64_t size = hulls[g][i + 1].size - hulls[g][i].size;
      const double gain = hulls[g][i].cost - hulls[g][i + 1].cost;
      segments_.push_back({gain / static_cast<double>(size), size, gain, g});
    }
  }
  // Stable: a group's segments keep their hull order among equal rates.
  std::stable_sort(segments_.begin(), segments_.end(),
                   [](const Segment& a, const Segment& b) { return a.rate > b.rate; });
  const std::size_t n = segments_.size();
  size_tree_.assign(n + 1, 0);
  gain_tree_.assign(n + 1, 0.0);
  for (std::size_t i = 0; i < n; ++i) {
    of_group_[segments_[i].group].push_back(i);
    for (std::size_t k = i + 1; k <= n; k += k & (~k + 1)) {
      size_tree_[k] += segments_[i].size;
      gain_tree_[k] += segments_[i].gain;
    }
  }
  while (top_bit_ * 2 <= n) top_bit_ *= 2;
}

void RemainderLp::remove_group(std::size_t group) {
  base_size_ -= base_size_of_[group];
  base_cost_ -= base_cost_of_[group];
  for (std::size_t i : of_group_[group]) {
    for (std::size_t k = i + 1; k < size_tree_.size(); k += k & (~k + 1)) {
      size_tree_[k] -= segments_[i].size;
      gain_tree_[k] -= segments_[i].gain;
    }
    segments_[i].size = 0;
    segments_[i].gain = 0;
  }
}

double RemainderLp::value(int64_t bits) const {
  if (bits < base_size_) return std::numeric_limits<double>::infinity();
  // Longest prefix of segments (removed ones weigh 0) whose sizes fit: binary lifting on the Fenwick tree.
  int64_t room = bits - base_size_;
  double gained = 0;
  std::size_t position = 0;
  for (std::size_t step = top_bit_; step > 0; step /= 2) {
    const std::size_t next = position + step;
    if (next < size_tree_.size() && size_tree_[next] <= room) {
      position = next;
      room -= size_tree_[next];
      gained += gain_tree_[next];
    }
  }
  double value = base_cost_ - gained;
  // The next segment is present (a removed one weighs 0 and would have fitted): take it fractionally.
  if (position < segments_.size()) value -= segments_[position].rate * static_cast<double>(room);
  return value;
}

}  // namespace palettize::knapsack
