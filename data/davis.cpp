#include "data/davis.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <numbers>
#include <set>
#include <sstream>

#include "data/files.h"
#include "tensor/random.h"

namespace sm {

namespace fs = std::filesystem;

// ---- reading ----

static std::vector<std::string> read_sequence_list(const fs::path& list, const std::string& layout) {
  std::ifstream in(list);
  check(in.good() && fs::is_regular_file(list), "davis", "no sequence list ", list.string(), " (expected ", layout,
        ")");
  std::vector<std::string> names;
  for (std::string line; std::getline(in, line);) {
    const auto begin = line.find_first_not_of(" \t\r"), end = line.find_last_not_of(" \t\r");
    if (begin == std::string::npos) continue;
    const std::string name = line.substr(begin, end - begin + 1);
    // A sequence is a folder name: results are written under it, so it must not lead elsewhere.
    check(name.find('/') == std::string::npos && name != "." && name != "..", "davis", "sequence list ",
          list.string(), " names '", name, "', which is not a folder name");
    names.push_back(name);
  }
  check(!names.empty(), "davis", "sequence list ", list.string(), " is empty");
  return names;
}

static DavisSequence open_sequence(const fs::path& root, const std::string& name, const std::string& resolution) {
  const fs::path frame_folder = root / "JPEGImages" / resolution / name;
  const fs::path mask_folder = root / "Annotations" / resolution / name;
  check(is_folder(frame_folder.string()), "davis", "sequence ", name, ": no frame folder ", frame_folder.string());
  check(is_folder(mask_folder.string()), "davis", "sequence ", name, ": no annotation folder ", mask_folder.string());
  DavisSequence sequence{name, {}, {}, {}};
  std::map<std::string, int64_t> frame_of_stem;
  for (const std::string& file : list_frame_files(frame_folder.string())) {
    frame_of_stem[file_stem(file)] = static_cast<int64_t>(sequence.frame_paths.size());
    sequence.frame_paths.push_back((frame_folder / file).string());
  }
  check(!sequence.frame_paths.empty(), "davis", "sequence ", name, ": no frames in ", frame_folder.string());
  for (const std::string& file : list_frame_files(mask_folder.string())) {
    if (fs::path(file).extension() != ".png") continue;
    const std::string path = (mask_folder / file).string();
    const auto frame = frame_of_stem.find(file_stem(file));
    check(frame != frame_of_stem.end(), "davis", "mask ", path, " has no frame named ", file_stem(file), " in ",
          frame_folder.string());
    sequence.mask_paths.push_back(path);
    sequence.mask_frames.push_back(frame->second);
  }
  check(!sequence.mask_paths.empty(), "davis", "sequence ", name, ": no .png masks in ", mask_folder.string());
  return sequence;
}

DavisDataset DavisDataset::open(const std::string& root, const std::string& split, const std::string& year,
                                const std::string& resolution) {
  check(is_folder(root), "davis", "dataset folder ", root, " does not exist");
  const std::string layout = "the DAVIS layout: JPEGImages/" + resolution + "/<seq>, Annotations/" + resolution +
                             "/<seq>, ImageSets/" + year + "/" + split + ".txt";
  DavisDataset dataset{root, {}};
  for (const std::string& name : read_sequence_list(fs::path(root) / "ImageSets" / year / (split + ".txt"), layout))
    dataset.sequences.push_back(open_sequence(fs::path(root), name, resolution));
  return dataset;
}

const DavisSequence& DavisDataset::sequence(const std::string& name) const {
  std::ostringstream known;
  for (const DavisSequence& s : sequences) {
    if (s.name == name) return s;
    known << " " << s.name;
  }
  fail("davis", "no sequence ", name, " in ", root, "; it has:", known.str());
}

std::vector<int> object_ids(const IndexedImage& mask) {
  const std::set<uint8_t> present(mask.indices.begin(), mask.indices.end());
  std::vector<int> ids;
  for (uint8_t index : present)
    if (index != 0 && index != 255) ids.push_back(index);
  return ids;
}

void check_mask_size(const std::string& mask_path, const IndexedImage& mask, const std::string& frame_path) {
  const ImageSize frame = read_image_size(frame_path);
  check(mask.height == frame.height && mask.width == frame.width, "davis", "mask ", mask_path, " is ", mask.height, "x",
        mask.width, " (HxW) but its frame ", frame_path, " is ", frame.height, "x", frame.width);
}

IndexedImage read_mask(const DavisSequence& sequence, int64_t m) {
  check(m >= 0 && m < static_cast<int64_t>(sequence.mask_paths.size()), "davis", "sequence ", sequence.name, " has ",
        sequence.mask_paths.size(), " masks, asked for mask ", m);
  IndexedImage mask = read_indexed_png(sequence.mask_paths[m]);
  check_mask_size(sequence.mask_paths[m], mask, sequence.frame_paths[sequence.mask_frames[m]]);
  return mask;
}

IndexedImage read_first_mask(const DavisSequence& sequence) {
  check(!sequence.mask_frames.empty() && sequence.mask_frames.front() == 0, "davis", "sequence ", sequence.name,
        " has no mask for its first frame ", sequence.frame_paths.front());
  return read_mask(sequence, 0);
}

std::vector<IndexedImage> read_masks(const DavisSequence& sequence) {
  std::vector<IndexedImage> masks;
  for (int64_t m = 0; m < static_cast<int64_t>(sequence.mask_paths.size()); ++m)
    masks.push_back(read_mask(sequence, m));
  return masks;
}

// ---- synthetic videos ----

namespace {

using Colour = std::array<double, 3>;

Colour random_colour(Generator& gen) { return {255 * gen.uniform(), 255 * gen.uniform(), 255 * gen.uniform()}; }

// A position moving at constant speed inside [low, high], bouncing off the ends.
double bounce(double position, double low, double high) {
  const double span = high - low, period = 2 * span;
  double q = std::fmod(position - low, period);
  if (q < 0) q += period;
  return low + (q <= span ? q : period - q);
}

// Sum of plane waves: a smooth texture that is not periodic within a frame.
struct Waves {
  Colour base;
  std::array<std::array<double, 4>, 3> waves;  // (x frequency, y frequency, phase, amplitude)
  Colour at(double x, double y) const {
    Colour c = base;
    for (const auto& [fx, fy, phase, amplitude] : waves)
      for (int ch = 0; ch < 3; ++ch) c[ch] += amplitude * std::sin(fx * x + fy * y + phase + 2.1 * ch);
    return c;
  }
};

Waves random_waves(Generator& gen, double amplitude) {
  Waves w{random_colour(gen), {}};
  for (auto& wave : w.waves)
    wave = {0.3 * (gen.uniform() - 0.5), 0.3 * (gen.uniform() - 0.5), 2 * std::numbers::pi * gen.uniform(),
            amplitude * gen.uniform()};
  return w;
}

// An ellipse or a rectangle with a striped texture that moves with it.
struct MovingShape {
  bool ellipse;
  double rx, ry, x0, y0, vx, vy, stripe_angle, stripe_period;
  Colour a, b;

  bool covers(double dx, double dy) const {
    return ellipse ? (dx * dx) / (rx * rx) + (dy * dy) / (ry * ry) <= 1 : std::abs(dx) <= rx && std::abs(dy) <= ry;
  }
  Colour texture(double dx, double dy) const {
    const double u = dx * std::cos(stripe_angle) + dy * std::sin(stripe_angle);
    return std::fmod(std::abs(u) / stripe_period, 2.0) < 1.0 ? a : b;
  }
};

MovingShape random_shape(Generator& gen, int64_t height, int64_t width) {
  MovingShape s{};
  s.ellipse = gen.uniform() < 0.5;
  s.rx = width * (0.1 + 0.12 * gen.uniform());
  s.ry = height * (0.1 + 0.12 * gen.uniform());
  s.x0 = width * gen.uniform();
  s.y0 = height * gen.uniform();
  s.vx = 4 * (gen.uniform() - 0.5);
  s.vy = 4 * (gen.uniform() - 0.5);
  s.stripe_angle = std::numbers::pi * gen.uniform();
  s.stripe_period = 2 + 4 * gen.uniform();
  s.a = random_colour(gen);
  s.b = random_colour(gen);
  return s;
}

uint8_t to_byte(double v) { return static_cast<uint8_t>(std::clamp(std::lround(v), 0L, 255L)); }

}  // namespace

void write_synthetic_davis(const std::string& root, const SyntheticDavisOptions& o) {
  check(o.sequences >= 1 && o.frames >= 1 && o.height >= 8 && o.width >= 8 && o.objects >= 0 && o.objects <= 254,
        "write_synthetic_davis", "need sequences >= 1, frames >= 1, height and width >= 8, 0 <= objects <= 254; got ",
        o.sequences, ", ", o.frames, ", ", o.height, "x", o.width, ", ", o.objects);
  const fs::path base(root);
  std::string list;
  for (int64_t s = 0; s < o.sequences; ++s) {
    const std::string name = "synthetic-" + std::to_string(s);
    list += name + "\n";
    Generator gen(derive_seed(o.seed, 0, static_cast<uint64_t>(s)));
    const Waves background = random_waves(gen, 40);
    const double pan_x = 2 * (gen.uniform() - 0.5), pan_y = 2 * (gen.uniform() - 0.5);
    std::vector<MovingShape> shapes;
    for (int64_t k = 0; k < o.objects; ++k) shapes.push_back(random_shape(gen, o.height, o.width));

    for (int64_t t = 0; t < o.frames; ++t) {
      Image frame{o.height, o.width, 3, std::vector<uint8_t>(o.height * o.width * 3)};
      IndexedImage mask{o.height, o.width, std::vector<uint8_t>(o.height * o.width, 0), davis_palette()};
      for (int64_t y = 0; y < o.height; ++y)
        for (int64_t x = 0; x < o.width; ++x) {
          Colour colour = background.at(x + pan_x * t, y + pan_y * t);
          for (int64_t k = 0; k < o.objects; ++k) {
            const MovingShape& shape = shapes[k];
            const double cx = bounce(shape.x0 + shape.vx * t, shape.rx, o.width - shape.rx);
            const double cy = bounce(shape.y0 + shape.vy * t, shape.ry, o.height - shape.ry);
            if (!shape.covers(x - cx, y - cy)) continue;
            colour = shape.texture(x - cx, y - cy);
            mask.indices[y * o.width + x] = static_cast<uint8_t>(k + 1);
          }
          for (int ch = 0; ch < 3; ++ch) frame.pixels[(y * o.width + x) * 3 + ch] = to_byte(colour[ch]);
        }
      char stem[32];
      std::snprintf(stem, sizeof(stem), "%05lld", static_cast<long long>(t));
      write_jpeg((base / "JPEGImages" / "480p" / name / (std::string(stem) + ".jpg")).string(), frame);
      write_indexed_png((base / "Annotations" / "480p" / name / (std::string(stem) + ".png")).string(), mask);
    }
  }
  write_file_atomically((base / "ImageSets" / "2017" / "val.txt").string(), list, "write_synthetic_davis");
}

}  // namespace sm
