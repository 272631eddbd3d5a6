#include "plan/svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace tandem::plan {

namespace {

std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else o += c;
  }
  return o;
}

std::string num(double v) {
  char b[32];
  if (std::abs(v) >= 100) std::snprintf(b, sizeof b, "%.0f", v);
  else if (std::abs(v) >= 10) std::snprintf(b, sizeof b, "%.1f", v);
  else std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

std::string f(double v) {
  char b[32];
  std::snprintf(b, sizeof b, "%.1f", v);
  return b;
}

}  // namespace

std::string render_svg(const SvgChart& c) {
  const double W = 760, H = 420, L = 70, R = 70, T = 50, B = 80;
  const double pw = W - L - R, ph = H - T - B;
  const size_t n = c.x_labels.size();
  double lmax = 0, rmax = 0;
  for (const SvgSeries& s : c.series)
    for (double v : s.y)
      if (std::isfinite(v)) (s.right_axis ? rmax : lmax) = std::max(s.right_axis ? rmax : lmax, v);
  if (lmax <= 0) lmax = 1;
  if (rmax <= 0) rmax = 1;
  lmax *= 1.1;
  rmax *= 1.1;
  auto x_of = [&](size_t i) { return L + (n <= 1 ? pw / 2 : pw * double(i) / double(n - 1)); };
  auto y_of = [&](double v, bool right) { return T + ph - ph * v / (right ? rmax : lmax); };
  std::string o;
  o += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + f(W) + "\" height=\"" + f(H) +
       "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"" + f(W / 2) + "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" + esc(c.title) + "</text>\n";
  const double band = n > 1 ? pw / double(n - 1) : pw;
  for (size_t i = 0; i < n && i < c.highlight.size(); ++i)
    if (c.highlight[i])
      o += "<rect x=\"" + f(x_of(i) - band / 2) + "\" y=\"" + f(T) + "\" width=\"" + f(band) + "\" height=\"" +
           f(ph) + "\" fill=\"#e6f4e6\"/>\n";
  o += "<rect x=\"" + f(L) + "\" y=\"" + f(T) + "\" width=\"" + f(pw) + "\" height=\"" + f(ph) +
       "\" fill=\"none\" stroke=\"#444\"/>\n";
  for (int k = 0; k <= 5; ++k) {
    const double fr = double(k) / 5;
    const double y = T + ph - ph * fr;
    o += "<line x1=\"" + f(L) + "\" x2=\"" + f(L + pw) + "\" y1=\"" + f(y) + "\" y2=\"" + f(y) + "\" stroke=\"#ddd\"/>\n";
    o += "<text x=\"" + f(L - 6) + "\" y=\"" + f(y + 4) + "\" text-anchor=\"end\">" + num(lmax * fr) + "</text>\n";
    o += "<text x=\"" + f(L + pw + 6) + "\" y=\"" + f(y + 4) + "\">" + num(rmax * fr) + "</text>\n";
  }
  const size_t every = std::max<size_t>(1, n / 16);
  for (size_t i = 0; i < n; i += every)
    o += "<text x=\"" + f(x_of(i)) + "\" y=\"" + f(T + ph + 16) + "\" text-anchor=\"middle\">" + esc(c.x_labels[i]) + "</text>\n";
  o += "<text x=\"" + f(L + pw / 2) + "\" y=\"" + f(T + ph + 36) + "\" text-anchor=\"middle\">" + esc(c.x_label) + "</text>\n";
  o += "<text transform=\"translate(16," + f(T + ph / 2) + ") rotate(-90)\" text-anchor=\"middle\">" + esc(c.y_left_label) + "</text>\n";
  o += "<text transform=\"translate(" + f(W - 14) + "," + f(T + ph / 2) + ") rotate(90)\" text-anchor=\"middle\">" + esc(c.y_right_label) + "</text>\n";
  double ly = H - 22;
  double lx = L;
  for (const SvgSeries& s : c.series) {
    std::string path;
    bool pen = false;
    for (size_t i = 0; i < n && i < s.y.size(); ++i) {
      if (!std::isfinite(s.y[i])) {
        pen = false;
        continue;
      }
      path += (pen ? " L" : " M") + f(x_of(i)) + "," + f(y_of(s.y[i], s.right_axis));
      pen = true;
      o += "<circle cx=\"" + f(x_of(i)) + "\" cy=\"" + f(y_of(s.y[i], s.right_axis)) + "\" r=\"3\" fill=\"" + s.color + "\"/>\n";
    }
    o += "<path d=\"" + path + "\" fill=\"none\" stroke=\"" + s.color + "\" stroke-width=\"2\"/>\n";
    o += "<line x1=\"" + f(lx) + "\" x2=\"" + f(lx + 20) + "\" y1=\"" + f(ly) + "\" y2=\"" + f(ly) + "\" stroke=\"" + s.color + "\" stroke-width=\"3\"/>\n";
    o += "<text x=\"" + f(lx + 25) + "\" y=\"" + f(ly + 4) + "\">" + esc(s.name + (s.right_axis ? " (right)" : " (left)")) + "</text>\n";
    lx += 250;
  }
  if (!c.highlight_label.empty()) {
    o += "<rect x=\"" + f(lx) + "\" y=\"" + f(ly - 6) + "\" width=\"16\" height=\"12\" fill=\"#e6f4e6\" stroke=\"#9c9\"/>\n";
    o += "<text x=\"" + f(lx + 22) + "\" y=\"" + f(ly + 4) + "\">" + esc(c.highlight_label) + "</text>\n";
  }
  o += "</svg>\n";
  return o;
}

}  // namespace tandem::plan
