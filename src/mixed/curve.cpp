// Predicted quality against size: optimal plans over a sweep of budgets, the uniform choices, and an SVG.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

#include "palettize/error.hpp"
#include "palettize/mixed_precision.hpp"

namespace palettize {
namespace {

double snr_db_of(double signal, double sse) {
  if (sse == 0) return std::numeric_limits<double>::infinity();
  return 10.0 * std::log10(signal / sse);
}

// Index of candidate `label` in `tensor`, or -1.
int candidate_index(const TensorCandidates& tensor, const std::string& label) {
  for (std::size_t i = 0; i < tensor.candidates.size(); ++i) {
    if (tensor.candidates[i].label == label) return static_cast<int>(i);
  }
  return -1;
}

// Every tensor at candidate `label`; nullopt when some tensor lacks it.
std::optional<CurvePoint> uniform_point(std::span<const TensorCandidates> tensors, const std::string& label) {
  for (const TensorCandidates& tensor : tensors) {
    if (candidate_index(tensor, label) < 0) return std::nullopt;
  }
  const MixedPlan plan = uniform_plan(tensors, label);
  return CurvePoint{plan.bits_per_weight(), plan.sse, plan.snr_db(), plan.cost, 0, label};
}

std::string format_number(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

std::string xml_escape(std::string_view text) {
  std::string escaped;
  for (char c : text) {
    switch (c) {
      case '&': escaped += "&amp;"; break;
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '"': escaped += "&quot;"; break;
      default: escaped += c;
    }
  }
  return escaped;
}

// "Nice" tick step (1, 2 or 5 x 10^k) for about `count` ticks over `span`.
double tick_step(double span, int count) {
  const double raw = span / count;
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double factor : {1.0, 2.0, 5.0}) {
    if (factor * power >= raw) return factor * power;
  }
  return 10 * power;
}

struct Frame {
  double x0, x1, y0, y1;  // data ranges
  double left = 70, right = 620, top = 50, bottom = 390;  // pixel box
  double px(double x) const { return left + (x - x0) / (x1 - x0) * (right - left); }
  double py(double y) const { return bottom - (y - y0) / (y1 - y0) * (bottom - top); }
};

Frame frame_for(const QualityCurve& curve) {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  auto extend = [&](double x, double y) {
    if (!std::isfinite(y)) return;
    x0 = std::min(x0, x);
    x1 = std::max(x1, x);
    y0 = std::min(y0, y);
    y1 = std::max(y1, y);
  };
  for (const CurvePoint& p : curve.sweep) extend(p.bits_per_weight, curve.y(p));
  for (const CurvePoint& p : curve.uniform) extend(p.bits_per_weight, curve.y(p));
  for (const MeasuredPoint& p : curve.measured) extend(p.bits_per_weight, p.output_snr_db);
  if (!std::isfinite(x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  if (x1 - x0 < 1e-9) x0 -= 0.5, x1 += 0.5;
  if (y1 - y0 < 1e-9) y0 -= 1, y1 += 1;
  const double x_pad = 0.04 * (x1 - x0), y_pad = 0.06 * (y1 - y0);
  return Frame{x0 - x_pad, x1 + x_pad, y0 - y_pad, y1 + y_pad};
}

void draw_axes(std::ostringstream& svg, const Frame& f, CurveMetric metric) {
  svg << "<rect x=\"" << f.left << "\" y=\"" << f.top << "\" width=\"" << f.right - f.left << "\" height=\""
      << f.bottom - f.top << "\" fill=\"none\" stroke=\"#444\"/>\n";
  const double x_step = tick_step(f.x1 - f.x0, 8), y_step = tick_step(f.y1 - f.y0, 8);
  for (double x = std::ceil(f.x0 / x_step) * x_step; x <= f.x1; x += x_step) {
    svg << "<line x1=\"" << f.px(x) << "\" y1=\"" << f.top << "\" x2=\"" << f.px(x) << "\" y2=\"" << f.bottom
        << "\" stroke=\"#ddd\"/><text x=\"" << f.px(x) << "\" y=\"" << f.bottom + 18
        << "\" text-anchor=\"middle\">" << format_number(x, x_step < 1 ? 1 : 0) << "</text>\n";
  }
  for (double y = std::ceil(f.y0 / y_step) * y_step; y <= f.y1; y += y_step) {
    svg << "<line x1=\"" << f.left << "\" y1=\"" << f.py(y) << "\" x2=\"" << f.right << "\" y2=\"" << f.py(y)
        << "\" stroke=\"#ddd\"/><text x=\"" << f.left - 6 << "\" y=\"" << f.py(y) + 4
        << "\" text-anchor=\"end\">" << format_number(y, y_step < 1 ? 1 : 0) << "</text>\n";
  }
  svg << "<text x=\"" << (f.left + f.right) / 2 << "\" y=\"" << f.bottom + 40
      << "\" text-anchor=\"middle\">average bits per weight</text>\n";
  svg << "<text transform=\"translate(20," << (f.top + f.bottom) / 2
      << ") rotate(-90)\" text-anchor=\"middle\">"
      << (metric == CurveMetric::output_snr ? "output SNR (dB)" : "predicted weight SNR (dB)") << "</text>\n";
}

}  // namespace

QualityCurve quality_curve(std::span<const TensorCandidates> tensors, int points, const AllocationOptions& options) {
  check(points >= 2, "a quality curve needs at least 2 points, got ", points);
  check(!tensors.empty(), "a quality curve needs at least one tensor");
  QualityCurve curve;
  double largest_uniform = 0;
  for (const Candidate& candidate : tensors.front().candidates) {
    if (!candidate.spec) continue;
    if (auto point = uniform_point(tensors, candidate.label)) {
      largest_uniform = std::max(largest_uniform, point->bits_per_weight);
      curve.uniform.push_back(*point);
    }
  }
  std::sort(curve.uniform.begin(), curve.uniform.end(),
            [](const CurvePoint& a, const CurvePoint& b) { return a.bits_per_weight < b.bits_per_weight; });
  int64_t weights = 0, smallest = 0;
  for (const TensorCandidates& tensor : tensors) {
    weights += tensor.numel;
    int64_t least = std::numeric_limits<int64_t>::max();
    for (const Candidate& candidate : tensor.candidates) least = std::min(least, candidate.size_bits);
    smallest += least;
  }
  // Half a bit above the smallest total, so that floor(target x weights) never rounds below it.
  const double low = (static_cast<double>(smallest) + 0.5) / static_cast<double>(weights);
  const double high = std::max(largest_uniform, low);
  for (int i = 0; i < points; ++i) {
    const double target = low + (high - low) * i / (points - 1);
    const MixedPlan plan = plan_mixed_precision(tensors, target, options);
    curve.sweep.push_back({plan.bits_per_weight(), plan.sse, plan.snr_db(), plan.cost, target, ""});
  }
  return curve;
}

double CurvePoint::predicted_output_snr_db() const { return snr_db_of(1.0, cost); }

double QualityCurve::y(const CurvePoint& point) const {
  return metric == CurveMetric::output_snr ? point.predicted_output_snr_db() : point.snr_db;
}

MixedPlan uniform_plan(std::span<const TensorCandidates> tensors, const std::string& label) {
  MixedPlan plan;
  for (const TensorCandidates& tensor : tensors) {
    const int index = candidate_index(tensor, label);
    check(index >= 0, "tensor ", tensor.name, " has no candidate ", label);
    const Candidate& chosen = tensor.candidates[static_cast<std::size_t>(index)];
    plan.choice.push_back(index);
    plan.weights += tensor.numel;
    plan.total_bits += chosen.size_bits;
    plan.cost += chosen.cost;
    plan.sse += chosen.sse;
    plan.signal += tensor.signal;
  }
  plan.budget_bits = plan.total_bits;
  plan.target_bits = plan.bits_per_weight();
  plan.lower_bound = plan.cost;
  return plan;
}

namespace {

void draw_measured(std::ostringstream& svg, const Frame& f, const QualityCurve& curve) {
  for (const MeasuredPoint& p : curve.measured) {
    if (!std::isfinite(p.output_snr_db)) continue;
    const double x = f.px(p.bits_per_weight), y = f.py(p.output_snr_db);
    const std::string color = p.label.empty() ? "#2ca02c" : "#d62728";
    svg << "<rect x=\"" << format_number(x - 5, 1) << "\" y=\"" << format_number(y - 5, 1)
        << "\" width=\"10\" height=\"10\" fill=\"" << (p.label.empty() ? color : "white") << "\" stroke=\""
        << color << "\" stroke-width=\"2\"/>\n";
  }
}

void draw_legend(std::ostringstream& svg, const Frame& f, const QualityCurve& curve) {
  const bool output = curve.metric == CurveMetric::output_snr;
  double y = f.top + 14;
  svg << "<line x1=\"" << f.left + 12 << "\" y1=\"" << y << "\" x2=\"" << f.left + 36 << "\" y2=\"" << y
      << "\" stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"" << f.left + 42 << "\" y=\"" << y + 4 << "\">"
      << (output ? "mixed precision, predicted from the damage table" : "mixed precision (optimal plan per budget)")
      << "</text>\n";
  y += 20;
  svg << "<circle cx=\"" << f.left + 24 << "\" cy=\"" << y << "\" r=\"5\" fill=\"#d62728\"/><text x=\""
      << f.left + 42 << "\" y=\"" << y + 4 << "\">uniform: every tensor at one n_bits"
      << (output ? ", predicted" : "") << "</text>\n";
  if (curve.measured.empty()) return;
  y += 20;
  svg << "<rect x=\"" << f.left + 19 << "\" y=\"" << y - 5 << "\" width=\"10\" height=\"10\" fill=\"#2ca02c\"/>"
      << "<text x=\"" << f.left + 42 << "\" y=\"" << y + 4 << "\">mixed precision, measured in onnxruntime</text>\n";
  y += 20;
  svg << "<rect x=\"" << f.left + 19 << "\" y=\"" << y - 5 << "\" width=\"10\" height=\"10\" fill=\"white\" "
      << "stroke=\"#d62728\" stroke-width=\"2\"/><text x=\"" << f.left + 42 << "\" y=\"" << y + 4
      << "\">uniform, measured in onnxruntime</text>\n";
}

}  // namespace

std::string quality_curve_svg(const QualityCurve& curve, std::string_view title) {
  const Frame f = frame_for(curve);
  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"660\" height=\"450\" viewBox=\"0 0 660 450\" "
         "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"660\" height=\"450\" fill=\"white\"/>\n";
  svg << "<text x=\"330\" y=\"28\" text-anchor=\"middle\" font-size=\"15\">" << xml_escape(title) << "</text>\n";
  draw_axes(svg, f, curve.metric);
  svg << "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"";
  for (const CurvePoint& p : curve.sweep) {
    const double value = curve.y(p);
    if (std::isfinite(value)) svg << format_number(f.px(p.bits_per_weight), 1) << "," << format_number(f.py(value), 1) << " ";
  }
  svg << "\"/>\n";
  for (const CurvePoint& p : curve.uniform) {
    const double value = curve.y(p);
    if (!std::isfinite(value)) continue;
    const double x = f.px(p.bits_per_weight), y = f.py(value);
    const bool near_right = x > f.right - 60;  // keep the label inside the picture
    svg << "<circle cx=\"" << format_number(x, 1) << "\" cy=\"" << format_number(y, 1)
        << "\" r=\"5\" fill=\"#d62728\"/><text x=\"" << format_number(near_right ? x - 8 : x + 8, 1)
        << "\" y=\"" << format_number(y + 16, 1) << "\" fill=\"#d62728\" text-anchor=\""
        << (near_right ? "end" : "start") << "\">" << xml_escape("all " + p.label) << "</text>\n";
  }
  draw_measured(svg, f, curve);
  draw_legend(svg, f, curve);
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace palettize
