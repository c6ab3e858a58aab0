// siammae report: one self-contained HTML page of a run and its evaluations.
#include <cstdio>

#include "data/files.h"
#include "models/siammae/cli/commands.h"
#include "models/siammae/cli/flags.h"
#include "models/siammae/report.h"

namespace sm::cli {

int report(int argc, char** argv) {
  Flags flags("report",
              "One HTML page of a training run: its configuration, loss curve and reconstructions over training,\n"
              "any pictures given (attention maps, ...), the DAVIS J&F of each evaluation folder with per-sequence\n"
              "rows, and their overlay strips. Every image is embedded, so the file works offline and alone.");
  flags.add_required("run", "the run folder written by siammae train")
      .add("eval", "", "folders written by siammae propagate, comma-separated")
      .add("pictures", "", "more PNG or JPEG files to show (siammae attention or reconstruct pictures), comma-separated")
      .add("split", "val", "which <folder>/global_results-<split>.csv to read")
      .add_required("out", "the HTML file to write");
  if (!flags.parse(argc, argv, 2)) return 0;
  ReportOptions options;
  options.run = flags.text("run");
  options.evaluations = flags.list("eval");
  options.pictures = flags.list("pictures");
  options.split = flags.text("split");
  const std::string html = make_report(options);
  const std::string out = flags.text("out");
  write_file_atomically(out, html, "report");
  std::printf("report: %s (%.1f MB)\n", out.c_str(), static_cast<double>(html.size()) / 1e6);
  return 0;
}

}  // namespace sm::cli
