// private: include only from src/ and tests/
#pragma once
// LP relaxation of the multiple-choice knapsack behind mixed-precision allocation: efficient candidates,
// lower convex hulls, the greedy LP, and the LP of "the groups still undecided" as a function of the bits
// left, used as the bound of the exact fix-up.
#include <cstdint>
#include <span>
#include <vector>

#include "palettize/mixed_precision.hpp"

namespace palettize::knapsack {

struct Point {
  int64_t size;
  double cost;
  int candidate;  // index in the caller's group
};

// Candidates that can matter: ascending size, strictly descending cost (a candidate no smaller and no
// cheaper than another is never needed). Ties keep the lowest candidate index.
std::vector<Point> efficient_points(const AllocationGroup& group, std::span<const int> allowed);

// Lower convex hull of efficient points (ascending size, descending cost): the LP only ever uses these.
std::vector<Point> lower_hull(const std::vector<Point>& points);

struct LpSolution {
  bool feasible = false;
  double value = 0;              // LP optimum
  double lambda = 0;             // cost saved per bit at the critical segment (0 when everything fits)
  std::vector<std::size_t> at;   // per group, the hull point reached (the lower end for the fractional one)
  int64_t size = 0;              // size of the rounded-down solution
  double cost = 0;               // cost of the rounded-down solution
};

// Greedy over hull segments by cost saved per bit, the first one that does not fit taken fractionally.
LpSolution solve_lp(std::span<const std::vector<Point>> hulls, int64_t budget);

// The LP optimum of a shrinking set of groups as a function of the bits left: hull segments of every group
// ranked once by cost saved per bit, with Fenwick trees over that ranking, so each query and each removal
// of a group costs O(log segments).
class RemainderLp {
 public:
  explicit RemainderLp(const std::vector<std::vector<Point>>& hulls);
  void remove_group(std::size_t group);
  // LP optimum of the groups still present within `bits`; +infinity when even their smallest points exceed it.
  double value(int64_t bits) const;

 private:
  struct Segment {
    double rate;
    int64_t size;
    double gain;
    std::size_t group;
  };
  std::vector<Segment> segments_;                     // by rate, highest first
  std::vector<std::vector<std::size_t>> of_group_;    // positions of each group's segments
  std::vector<int64_t> base_size_of_;
  std::vector<double> base_cost_of_;
  int64_t base_size_ = 0;                             // smallest points of the present groups
  double base_cost_ = 0;
  std::vector<int64_t> size_tree_;                    // Fenwick trees over segment positions
  std::vector<double> gain_tree_;
  std::size_t top_bit_ = 1;
};

}  // namespace palettize::knapsack
