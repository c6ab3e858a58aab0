#include "models/siammae/report.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/files.h"
#include "tensor/error.h"

namespace sm {

namespace fs = std::filesystem;

std::string base64_encode(const std::vector<uint8_t>& bytes) {
  static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    // Three bytes (zero-padded at the end) make four 6-bit digits; '=' stands for missing bytes.
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    const uint32_t group = bytes[i] << 16 | (n > 1 ? bytes[i + 1] << 8 : 0) | (n > 2 ? bytes[i + 2] : 0);
    for (size_t d = 0; d < 4; ++d) out += d <= n ? kAlphabet[(group >> (18 - 6 * d)) & 63] : '=';
  }
  return out;
}

std::string html_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

const char* const kStyle = R"(
body { font-family: sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; } h2 { margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f0f0; }
figure { display: inline-block; margin: 0.5em; vertical-align: top; max-width: 100%; }
figure img { max-width: 100%; border: 1px solid #ddd; }
.steps figure { width: 31%; } .steps figure img { width: 100%; image-rendering: pixelated; }
.config { column-width: 22em; font-size: 0.9em; } .config div { break-inside: avoid; padding: 0.1em 0; }
.config b { display: inline-block; min-width: 12em; font-weight: normal; color: #555; }
figcaption { font-size: 0.9em; color: #555; }
.note { color: #777; }
)";

// A PNG or JPEG file as a data URI.
std::string data_uri(const std::string& path) {
  std::string extension = fs::path(path).extension().string();
  std::transform(extension.begin(), extension.end(), extension.begin(), [](unsigned char c) { return std::tolower(c); });
  const bool png = extension == ".png", jpeg = extension == ".jpg" || extension == ".jpeg";
  check(png || jpeg, "report", path, ": only PNG and JPEG pictures can be shown");
  return std::string("data:image/") + (png ? "png" : "jpeg") + ";base64," + base64_encode(read_file(path, "report"));
}

std::string figure(const std::string& path, const std::string& caption) {
  return std::string("<figure><img src=\"") + data_uri(path) + "\" alt=\"" +
         html_escape(caption) + "\"><figcaption>" + html_escape(caption) + "</figcaption></figure>\n";
}

// The rows of a CSV file (no quoting: the files read here have none), header first.
std::vector<std::vector<std::string>> read_csv(const std::string& path) {
  std::ifstream in(path);
  check(in.good(), "report", "cannot open ", path);
  std::vector<std::vector<std::string>> rows;
  for (std::string line; std::getline(in, line);) {
    if (line.empty()) continue;
    std::vector<std::string> row;
    std::istringstream fields(line);
    for (std::string field; std::getline(fields, field, ',');) row.push_back(field);
    rows.push_back(row);
  }
  return rows;
}

std::string number_text(double value, const char* format = "%.3f") {
  char text[32];
  std::snprintf(text, sizeof(text), format, value);
  return text;
}

// config.json flattened to "model.encoder_dim 192" lines.
void config_rows(const nlohmann::json& value, const std::string& prefix, std::ostringstream& html) {
  if (value.is_object()) {
    for (const auto& [key, item] : value.items()) config_rows(item, prefix.empty() ? key : prefix + "." + key, html);
    return;
  }
  html << "<div><b>" << html_escape(prefix) << "</b> "
       << html_escape(value.is_string() ? value.get<std::string>() : value.dump()) << "</div>\n";
}

// What log.csv says about the run: steps, the loss at the start and at the end, the time.
std::string log_summary(const std::string& path) {
  if (!fs::exists(path)) return "<p class=\"note\">no log.csv yet</p>\n";
  const std::vector<std::vector<std::string>> rows = read_csv(path);
  if (rows.size() < 2) return "<p class=\"note\">log.csv has no steps yet</p>\n";
  auto column = [&](const std::string& name) {
    const auto it = std::find(rows[0].begin(), rows[0].end(), name);
    check(it != rows[0].end(), "report", path, " has no '", name, "' column");
    return static_cast<size_t>(it - rows[0].begin());
  };
  const size_t step = column("step"), loss = column("loss"), elapsed = column("elapsed_s");
  auto mean_loss = [&](size_t begin, size_t end) {
    double sum = 0;
    for (size_t i = begin; i < end; ++i) sum += std::stod(rows[i].at(loss));
    return sum / static_cast<double>(end - begin);
  };
  const size_t steps = rows.size() - 1, window = std::min<size_t>(20, steps);
  return "<p>" + rows.back().at(step) + " steps; loss " + number_text(mean_loss(1, 1 + window), "%.4f") + " (mean of the first " +
         std::to_string(window) + ") &rarr; " + number_text(mean_loss(rows.size() - window, rows.size()), "%.4f") +
         " (mean of the last " + std::to_string(window) + "); " + number_text(std::stod(rows.back().at(elapsed)) / 60, "%.1f") +
         " minutes of training</p>\n";
}

// recon_<step>.png files of the run, by step.
std::vector<std::pair<int64_t, std::string>> reconstructions(const std::string& run) {
  std::vector<std::pair<int64_t, std::string>> found;
  for (const fs::directory_entry& entry : fs::directory_iterator(run)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("recon_") || !name.ends_with(".png")) continue;
    const std::string digits = name.substr(6, name.size() - 10);
    if (digits.empty() || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    found.emplace_back(std::stoll(digits), entry.path().string());
  }
  std::sort(found.begin(), found.end());
  return found;
}

// One evaluation folder: its name, the toolkit's global and per-sequence tables, its strips.
struct Evaluation {
  std::string name;
  std::vector<std::string> columns, values;                   // global_results: J&F-Mean, J-Mean, ...
  std::vector<std::pair<std::string, std::pair<double, double>>> sequences;  // (object, (J, F))
  std::vector<std::string> strips;                            // overlays/<sequence>.jpg
};

Evaluation read_evaluation(const std::string& folder, const std::string& split) {
  Evaluation e;
  e.name = fs::path(folder).lexically_normal().filename().string();
  if (e.name.empty()) e.name = fs::path(folder).lexically_normal().parent_path().filename().string();
  const std::string global = (fs::path(folder) / ("global_results-" + split + ".csv")).string();
  const std::string per_sequence = (fs::path(folder) / ("per-sequence_results-" + split + ".csv")).string();
  check(fs::exists(global) && fs::exists(per_sequence), "report", folder, " has no ", fs::path(global).filename().string(),
        " and ", fs::path(per_sequence).filename().string(), ": not a folder scored by siammae propagate or eval-davis");
  const auto global_rows = read_csv(global);
  check(global_rows.size() == 2 && global_rows[0].size() == global_rows[1].size(), "report", global,
        ": expected a header and one row of numbers");
  e.columns = global_rows[0];
  e.values = global_rows[1];
  const auto rows = read_csv(per_sequence);
  for (size_t i = 1; i < rows.size(); ++i) {
    check(rows[i].size() == 3, "report", per_sequence, " line ", i + 1, ": expected Sequence,J-Mean,F-Mean");
    e.sequences.push_back({rows[i][0], {std::stod(rows[i][1]), std::stod(rows[i][2])}});
  }
  const fs::path overlays = fs::path(folder) / "overlays";
  if (fs::is_directory(overlays))
    for (const std::string& file : list_frame_files(overlays.string()))
      e.strips.push_back((overlays / file).string());
  return e;
}

std::string summary_table(const std::vector<Evaluation>& evaluations) {
  std::ostringstream html;
  html << "<table><thead><tr><th>evaluation</th>";
  for (const std::string& column : evaluations[0].columns) html << "<th>" << html_escape(column) << "</th>";
  html << "</tr></thead><tbody>\n";
  for (const Evaluation& e : evaluations) {
    html << "<tr><td>" << html_escape(e.name) << "</td>";
    for (const std::string& value : e.values) html << "<td>" << html_escape(value) << "</td>";
    html << "</tr>\n";
  }
  html << "</tbody></table>\n";
  return html.str();
}

// One row per object, J&F, J and F of each evaluation side by side.
std::string per_sequence_table(const std::vector<Evaluation>& evaluations) {
  std::vector<std::string> objects;
  for (const Evaluation& e : evaluations)
    for (const auto& [object, scores] : e.sequences)
      if (std::find(objects.begin(), objects.end(), object) == objects.end()) objects.push_back(object);
  std::ostringstream html;
  html << "<table><thead><tr><th rowspan=\"2\">sequence, object</th>";
  for (const Evaluation& e : evaluations) html << "<th colspan=\"3\">" << html_escape(e.name) << "</th>";
  html << "</tr><tr>";
  for (size_t i = 0; i < evaluations.size(); ++i) html << "<th>J&amp;F</th><th>J</th><th>F</th>";
  html << "</tr></thead><tbody>\n";
  for (const std::string& object : objects) {
    html << "<tr><td>" << html_escape(object) << "</td>";
    for (const Evaluation& e : evaluations) {
      const auto it = std::find_if(e.sequences.begin(), e.sequences.end(), [&](const auto& s) { return s.first == object; });
      if (it == e.sequences.end()) {
        html << "<td></td><td></td><td></td>";
        continue;
      }
      const auto [j, f] = it->second;
      html << "<td>" << number_text((j + f) / 2) << "</td><td>" << number_text(j) << "</td><td>" << number_text(f) << "</td>";
    }
    html << "</tr>\n";
  }
  html << "</tbody></table>\n";
  return html.str();
}

}  // namespace

std::string make_report(const ReportOptions& options) {
  const fs::path run = options.run;
  const std::string config_path = (run / "config.json").string();
  check(fs::exists(config_path), "report", options.run, " has no config.json: not a run folder of siammae train");
  nlohmann::json config;
  try {
    config = nlohmann::json::parse(std::ifstream(config_path));
  } catch (const nlohmann::json::exception& e) {
    fail("report", config_path, ": not valid JSON (", e.what(), ")");
  }
  std::vector<Evaluation> evaluations;
  for (const std::string& folder : options.evaluations) evaluations.push_back(read_evaluation(folder, options.split));

  std::ostringstream html;
  const std::string title = "siammae run " + options.run;
  html << "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" << html_escape(title)
       << "</title><style>" << kStyle << "</style></head><body>\n<h1>" << html_escape(title) << "</h1>\n";
  html << log_summary((run / "log.csv").string());

  html << "<h2>Configuration</h2>\n<div class=\"config\">\n";
  config_rows(config, "", html);
  html << "</div>\n";

  html << "<h2>Loss</h2>\n";
  const fs::path loss = run / "loss.png";
  html << (fs::exists(loss) ? figure(loss.string(), "the loss of every step, and its running mean")
                            : "<p class=\"note\">no loss.png yet</p>\n");

  html << "<h2>Reconstructions during training</h2>\n<p>Each picture: the past frame f1, the masked future "
          "frame f2, the model's reconstruction of f2, and f2 itself.</p>\n";
  const auto steps = reconstructions(options.run);
  if (steps.empty()) html << "<p class=\"note\">no recon_&lt;step&gt;.png yet</p>\n";
  html << "<div class=\"steps\">\n";
  for (const auto& [step, path] : steps) html << figure(path, "step " + std::to_string(step));
  html << "</div>\n";

  html << "<h2>Attention maps and other pictures</h2>\n";
  if (options.pictures.empty()) html << "<p class=\"note\">none given (siammae report --pictures attention.png,...)</p>\n";
  for (const std::string& path : options.pictures) html << figure(path, fs::path(path).filename().string());

  html << "<h2>Label propagation on DAVIS (J&amp;F)</h2>\n";
  if (evaluations.empty()) {
    html << "<p class=\"note\">no evaluation folders given (siammae report --eval DIR,...)</p>\n";
  } else {
    html << "<p>Higher is better; 1 is a perfect mask. The DAVIS toolkit's numbers, from each folder's "
            "CSV files.</p>\n"
         << summary_table(evaluations) << "<h3>Per sequence</h3>\n" << per_sequence_table(evaluations);
    html << "<h2>Overlays</h2>\n<p>Top row: the annotation; bottom row: the propagated mask.</p>\n";
    for (const Evaluation& e : evaluations)
      for (const std::string& strip : e.strips)
        html << figure(strip, e.name + ": " + fs::path(strip).stem().string());
  }
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M", std::localtime(&now));
  html << "<p class=\"note\">written by siammae report on " << date << "</p>\n</body></html>\n";
  return html.str();
}

}  // namespace sm
