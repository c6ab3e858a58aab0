// siammae report: one self-contained HTML page of a run and its evaluations, checked as text
// and, where Debian's chromium is installed, rendered by a real browser.
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "data/image.h"
#include "models/siammae/pictures.h"
#include "models/siammae/report.h"
#include "tests/fixtures.h"

using namespace sm;
using namespace sm::test;

namespace fs = std::filesystem;

namespace {

void write_text(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A picture with a caption, so a screenshot shows which is which.
Image labelled_picture(const std::string& text, int64_t height, int64_t width, Rgb color) {
  Image image = blank_image(height, width, color);
  draw_text(image, 8, 8, text, 2);
  return image;
}

// What siammae train and siammae propagate leave behind, small: a run with its log, loss curve
// and two reconstructions; two evaluation folders with the DAVIS CSV files and an overlay strip.
struct Fixture {
  TempDir dir{"sm-report"};
  std::string run = dir / "run", identity = dir / "davis-identity", trained = dir / "davis-trained",
              attention = dir / "attention.png";
  Fixture() {
    write_text(run + "/config.json", R"({"model": {"name": "tiny", "encoder_dim": 192}, "steps": 40, "blr": 0.004})");
    std::string log = "step,epoch,loss,lr,pairs_per_s,data_wait,elapsed_s\n";
    for (int step = 1; step <= 40; ++step)
      log += std::to_string(step) + ",0.1," + std::to_string(2.0 - step * 0.02) + ",0.001,70,0.01," + std::to_string(step * 3) + "\n";
    write_text(run + "/log.csv", log);
    write_png(run + "/loss.png", labelled_picture("loss", 120, 240, {230, 240, 255}));
    write_png(run + "/recon_20.png", labelled_picture("recon 20", 60, 240, {255, 230, 230}));
    write_png(run + "/recon_40.png", labelled_picture("recon 40", 60, 240, {230, 255, 230}));
    write_png(attention, labelled_picture("attention", 80, 160, {255, 255, 200}));
    const char* header = "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n";
    write_text(identity + "/global_results-val.csv", std::string(header) + "0.373,0.383,0.333,0.3,0.363,0.3,0.2\n");
    write_text(identity + "/per-sequence_results-val.csv", "Sequence,J-Mean,F-Mean\nblackswan_1,0.5,0.4\ndog_1,0.266,0.326\n");
    write_text(trained + "/global_results-val.csv", std::string(header) + "0.663,0.667,0.8,0.1,0.659,0.7,0.1\n");
    write_text(trained + "/per-sequence_results-val.csv", "Sequence,J-Mean,F-Mean\nblackswan_1,0.862,0.882\ndog_1,0.472,0.436\n");
    write_jpeg(trained + "/overlays/blackswan.jpg", labelled_picture("blackswan strip", 80, 480, {200, 220, 255}));
    write_jpeg(trained + "/overlays/dog.jpg", labelled_picture("dog strip", 80, 480, {220, 200, 255}));
  }
  std::string command(const std::string& out) const {
    return std::string(SM_SIAMMAE_BIN) + " report --run " + run + " --eval " + identity + "," + trained +
           " --pictures " + attention + " --out " + out;
  }
};

size_t count(const std::string& text, const std::string& part) {
  size_t n = 0;
  for (size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

const int kImages = 6;  // loss, 2 reconstructions, attention, 2 strips

}  // namespace

TEST_CASE("base64 and HTML escaping") {
  auto bytes = [](const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); };
  CHECK(base64_encode(bytes("")) == "");
  CHECK(base64_encode(bytes("f")) == "Zg==");
  CHECK(base64_encode(bytes("fo")) == "Zm8=");
  CHECK(base64_encode(bytes("foo")) == "Zm9v");
  CHECK(base64_encode(bytes("foobar")) == "Zm9vYmFy");
  CHECK(base64_encode({0xff, 0xfe, 0x00}) == "//4A");
  CHECK(html_escape("a<b & \"c\" 'd'>") == "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
}

TEST_CASE("siammae report: config, loss, reconstructions, pictures, J&F tables and strips in one file") {
  Fixture f;
  const std::string out = f.dir / "report.html";
  const CommandResult result = run_command(f.command(out));
  CHECK_MESSAGE(result.code == 0, result.output);
  CHECK(result.output.find("report: " + out) != std::string::npos);
  const std::string html = read_text(out);
  CHECK(count(html, "<img src=\"data:image/png;base64,") == 4);
  CHECK(count(html, "<img src=\"data:image/jpeg;base64,") == 2);
  CHECK(count(html, "<img ") == kImages);
  // Self-contained: nothing is fetched from anywhere.
  CHECK(html.find("http") == std::string::npos);
  CHECK(html.find("<script") == std::string::npos);
  CHECK(html.find("<link") == std::string::npos);
  // The configuration, the log's summary, reconstructions in step order.
  CHECK(html.find("<div><b>model.encoder_dim</b> 192</div>") != std::string::npos);
  CHECK(html.find("40 steps; loss 1.7900 (mean of the first 20) &rarr; 1.3900 (mean of the last 20)") != std::string::npos);
  CHECK(html.find("step 20") < html.find("step 40"));
  // The J&F tables: one row per folder, one row per object with each folder's J&F, J and F.
  CHECK(html.find("<tr><td>davis-trained</td><td>0.663</td>") != std::string::npos);
  CHECK(html.find("<tr><td>blackswan_1</td><td>0.450</td><td>0.500</td><td>0.400</td><td>0.872</td><td>0.862</td>"
                  "<td>0.882</td></tr>") != std::string::npos);
  CHECK(html.find("davis-trained: blackswan") != std::string::npos);

  // What is missing is named.
  const CommandResult no_run = run_command(std::string(SM_SIAMMAE_BIN) + " report --run " + (f.dir / "nothing") +
                                           " --out " + (f.dir / "x.html"));
  CHECK(no_run.code == 1);
  CHECK(no_run.output.find("has no config.json: not a run folder of siammae train") != std::string::npos);
  const CommandResult bad_eval = run_command(std::string(SM_SIAMMAE_BIN) + " report --run " + f.run + " --eval " +
                                             f.run + " --out " + (f.dir / "x.html"));
  CHECK(bad_eval.code == 1);
  CHECK(bad_eval.output.find(f.run + " has no global_results-val.csv") != std::string::npos);
  CHECK_FALSE(fs::exists(f.dir / "x.html"));
}

TEST_CASE("siammae report renders in a real browser: every image decodes, the page has content") {
  const CommandResult which = run_command("command -v chromium");
  if (which.code != 0) {
    MESSAGE("skipped: Debian's chromium is not installed (apt-get install chromium), so the page is not rendered");
    return;
  }
  Fixture f;
  const std::string out = f.dir / "report.html";
  REQUIRE(run_command(f.command(out)).code == 0);
  const std::string browser = "chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                              "--disable-background-networking --disable-component-update --disable-sync "
                              "--user-data-dir=" + (f.dir / "profile") + " ";

  // A copy with a script that counts the images the browser decoded, read back from the DOM.
  std::string probe = read_text(out);
  probe.insert(probe.rfind("</body>"),
               "<script>window.addEventListener('load', () => { const images = [...document.images]; "
               "document.body.dataset.decoded = images.filter(i => i.complete && i.naturalWidth > 0).length + "
               "'/' + images.length; });</script>");
  write_text(f.dir / "probe.html", probe);
  const CommandResult dom = run_command(browser + "--virtual-time-budget=5000 --dump-dom file://" + (f.dir / "probe.html"));
  CHECK_MESSAGE(dom.output.find("data-decoded=\"" + std::to_string(kImages) + "/" + std::to_string(kImages) + "\"") !=
                    std::string::npos,
                dom.output.substr(0, 2000));

  // A screenshot of the page itself: the right size, and more than a blank page.
  const std::string shot = f.dir / "report.png";
  const CommandResult screenshot =
      run_command(browser + "--window-size=1200,1600 --screenshot=" + shot + " file://" + out);
  REQUIRE_MESSAGE(fs::exists(shot), screenshot.output);
  const Image picture = read_image(shot);
  CHECK(picture.width == 1200);
  CHECK(picture.height == 1600);
  std::set<uint32_t> colours;
  for (size_t i = 0; i + 2 < picture.pixels.size(); i += 3)
    colours.insert(picture.pixels[i] << 16 | picture.pixels[i + 1] << 8 | picture.pixels[i + 2]);
  CHECK(colours.size() > 20);
}
