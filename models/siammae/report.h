// One self-contained HTML page per run (`siammae report`): the configuration, the loss curve,
// the reconstructions over training, extra pictures (attention maps, reconstructions of unseen
// frames), the DAVIS J&F of each evaluation folder with per-sequence rows, and the overlay
// strips. Images are embedded as base64 data URIs, so the file opens anywhere, offline, alone.
#pragma once

#include <string>
#include <vector>

namespace sm {

struct ReportOptions {
  std::string run;                        // --run: a training run's folder (config.json, log.csv, loss.png, recon_*.png)
  std::vector<std::string> evaluations;   // --eval: folders written by `siammae propagate` (the DAVIS CSV files, overlays/)
  std::vector<std::string> pictures;      // --pictures: more PNG or JPEG files to show (attention.png, ...)
  std::string split = "val";              // which global_results-<split>.csv to read
};

// The page as text. Throws naming the folder or file when the run or an evaluation folder lacks
// what it must have (config.json; the two CSV files).
std::string make_report(const ReportOptions& options);

// The bytes as base64 (RFC 4648, with padding), for data URIs.
std::string base64_encode(const std::vector<uint8_t>& bytes);
// `text` with &, <, >, " and ' escaped for HTML.
std::string html_escape(const std::string& text);

}  // namespace sm
