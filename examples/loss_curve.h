// A loss curve drawn with characters, so the examples show learning without a plotting tool.
#pragma once

#include <algorithm>
#include <cmath>
#include <iostream>
#include <string>
#include <vector>

// Prints `values` (e.g. one loss per step) as a height x width chart on a log scale.
inline void print_loss_curve(const std::vector<double>& values, int height = 12, int width = 60) {
  if (values.empty()) return;
  const double top = std::log10(*std::max_element(values.begin(), values.end()));
  const double bottom = std::log10(std::max(*std::min_element(values.begin(), values.end()), 1e-12));
  const double span = std::max(top - bottom, 1e-9);
  std::vector<std::string> rows(height, std::string(width, ' '));
  for (int x = 0; x < width; ++x) {
    const size_t i = std::min(values.size() - 1, static_cast<size_t>(x * values.size() / width));
    const double level = (std::log10(std::max(values[i], 1e-12)) - bottom) / span;  // 0 = bottom row
    rows[height - 1 - static_cast<int>(std::lround(level * (height - 1)))][x] = '*';
  }
  for (int r = 0; r < height; ++r) {
    const double value = std::pow(10.0, top - span * r / (height - 1));
    char label[16];
    std::snprintf(label, sizeof(label), "%9.2e |", value);
    std::cout << label << rows[r] << "\n";
  }
  std::cout << std::string(10, ' ') << "+" << std::string(width, '-') << "\n"
            << std::string(11, ' ') << "step 0" << std::string(width - 12, ' ') << values.size() << "\n";
}
