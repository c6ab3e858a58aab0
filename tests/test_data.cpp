// Tests of the data suite: image and indexed-PNG files (on the real DAVIS masks too), resizing,
// frame-pair sampling, augmentation, video folders and their cached index, the threaded loader
// (determinism and resume), DAVIS datasets (synthetic and real), and every bad input's message.
#include <doctest/doctest.h>
#include <stb/stb_image.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "autograd/functions.h"
#include "data/davis.h"
#include "data/deflate.h"
#include "data/files.h"
#include "data/loader.h"
#include "data/pairs.h"
#include "tests/fixtures.h"

using namespace sm;
using namespace sm::test;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the system temp dir, removed with everything in it at scope exit.
// The message of the sm::Error that `fn` throws, or "" when it throws none.
template <typename Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The real data shipped next to the repository; tests that need it skip without it.
std::string shared_data(const std::string& relative) { return source_path("../shared/data/" + relative); }
bool have_shared_data(const std::string& relative) {
  if (fs::exists(shared_data(relative))) return true;
  MESSAGE("skipped: ", shared_data(relative), " is absent");
  return false;
}

void write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A small RGB image with a gradient and some structure, so resampling has something to do.
Image test_image(int64_t height, int64_t width) {
  Image image{height, width, 3, std::vector<uint8_t>(height * width * 3)};
  for (int64_t y = 0; y < height; ++y)
    for (int64_t x = 0; x < width; ++x)
      for (int64_t c = 0; c < 3; ++c)
        image.pixels[(y * width + x) * 3 + c] = static_cast<uint8_t>((x * 7 + y * 13 + c * 50 + (x * y) % 17) % 256);
  return image;
}

// Writes `clips` folders of `frames` JPEG frames each under `root` (root/clip-i/00000.jpg, ...).
void write_clips(const std::string& root, int clips, int frames, int64_t height = 24, int64_t width = 32) {
  SyntheticDavisOptions options{clips, frames, height, width, 1, 7};
  write_synthetic_davis(root + "-davis", options);
  fs::create_directories(root);
  for (int c = 0; c < clips; ++c)
    fs::rename(root + "-davis/JPEGImages/480p/synthetic-" + std::to_string(c), root + "/clip-" + std::to_string(c));
  fs::remove_all(root + "-davis");
}

// Sets a folder's modification time an hour back: older than the cache's "unsettled" window.
void age_folder(const std::string& folder) {
  fs::last_write_time(folder, fs::file_time_type::clock::now() - std::chrono::hours(1));
}

bool same_tensor(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector<float>() == b.to_vector<float>();
}

}  // namespace

// ---------------------------------------------------------------- images

TEST_CASE("PNG and JPEG files round-trip through read_image, and tensors through image_to_tensor") {
  TempDir dir;
  const Image rgb = test_image(5, 7);
  write_png(dir / "rgb.png", rgb);
  const Image back = read_image(dir / "rgb.png");
  CHECK(back.height == 5);
  CHECK(back.width == 7);
  CHECK(back.channels == 3);
  CHECK(back.pixels == rgb.pixels);
  CHECK_FALSE(fs::exists(dir / "rgb.png.tmp"));

  Image grey{3, 4, 1, {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 255}};
  write_png(dir / "grey.png", grey);
  CHECK(read_image(dir / "grey.png", 1).pixels == grey.pixels);
  CHECK(read_image_size(dir / "grey.png").width == 4);

  const Image original = test_image(16, 16);
  write_jpeg(dir / "rgb.jpg", original, 100);
  const Image jpeg = read_image(dir / "rgb.jpg");
  int worst = 0;
  for (size_t i = 0; i < jpeg.pixels.size(); ++i)
    worst = std::max(worst, std::abs(jpeg.pixels[i] - original.pixels[i]));
  CHECK(worst < 40);  // lossy, but the same picture

  const Tensor chw = image_to_tensor(rgb);  // (3, 5, 7)
  CHECK(chw.shape() == Shape{3, 5, 7});
  CHECK(chw.to_vector<float>()[1 * 35 + 2 * 7 + 3] == doctest::Approx(rgb.pixels[(2 * 7 + 3) * 3 + 1] / 255.0));
  CHECK(tensor_to_image(chw).pixels == rgb.pixels);
  CHECK(tensor_to_image(full({1, 1, 2}, 1.7)).pixels == std::vector<uint8_t>{255, 255});  // clamped
}

TEST_CASE("read_image decodes a real JPEG frame") {
  if (!have_shared_data("pretrain/davis-bear/00000.jpg")) return;
  const Image frame = read_image(shared_data("pretrain/davis-bear/00000.jpg"));
  CHECK(frame.height == 256);
  CHECK(frame.width == 455);
  CHECK(frame.channels == 3);
  const ImageSize size = read_image_size(shared_data("pretrain/davis-bear/00000.jpg"));
  CHECK((size.height == 256 && size.width == 455));
}

TEST_CASE("bad image files: missing, empty, truncated, corrupt or not an image, each message names the file") {
  TempDir dir;
  write_jpeg(dir / "good.jpg", test_image(64, 64));
  std::vector<uint8_t> jpeg = read_file(dir / "good.jpg", "test");

  CHECK(
      contains(error_of([&] { read_image(dir / "missing.jpg"); }), "[read_image] cannot open " + dir / "missing.jpg"));
  write_bytes(dir / "empty.jpg", {});
  CHECK(contains(error_of([&] { read_image(dir / "empty.jpg"); }), dir / "empty.jpg is not a JPEG or PNG file"));
  write_bytes(dir / "notes.jpg", {'h', 'e', 'l', 'l', 'o'});
  CHECK(contains(error_of([&] { read_image(dir / "notes.jpg"); }), dir / "notes.jpg is not a JPEG or PNG file"));

  write_bytes(dir / "truncated.jpg", std::vector<uint8_t>(jpeg.begin(), jpeg.begin() + jpeg.size() / 2));
  const std::string truncated = error_of([&] { read_image(dir / "truncated.jpg"); });
  CHECK(contains(truncated, "[read_image] cannot decode " + dir / "truncated.jpg"));
  CHECK(contains(truncated, "truncated or corrupt"));

  std::vector<uint8_t> corrupt = jpeg;
  for (size_t i = 4; i < 40; ++i) corrupt[i] = 0x5A;  // wreck the headers after the SOI marker
  write_bytes(dir / "corrupt.jpg", corrupt);
  CHECK(contains(error_of([&] { read_image(dir / "corrupt.jpg"); }), "cannot decode " + dir / "corrupt.jpg"));
  CHECK(contains(error_of([&] { read_image_size(dir / "corrupt.jpg"); }), dir / "corrupt.jpg"));
}

TEST_CASE("image files declaring more pixels than the limit are refused before decoding") {
  TempDir dir;
  write_jpeg(dir / "small.jpg", test_image(30, 40));
  // The same JPEG declaring 26000 x 26000 pixels in its frame header (SOF0: FF C0, length,
  // precision, then height and width, big-endian): a 676-megapixel decode from a tiny file.
  std::vector<uint8_t> bomb = read_file(dir / "small.jpg", "test");
  const uint8_t marker[2] = {0xFF, 0xC0};
  const auto sof = std::search(bomb.begin(), bomb.end(), marker, marker + 2);
  REQUIRE(sof != bomb.end());
  for (size_t at : {5, 7}) sof[at] = 26000 >> 8, sof[at + 1] = 26000 & 0xFF;
  write_bytes(dir / "bomb.jpg", bomb);
  CHECK(read_image_size(dir / "bomb.jpg").height == 26000);  // the header alone is fine to read
  const auto start = std::chrono::steady_clock::now();
  CHECK(contains(error_of([&] { read_image(dir / "bomb.jpg"); }),
                 "[read_image] " + dir / "bomb.jpg" + " is 26000x26000 pixels, more than the limit of 50000000"));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));

  // An indexed PNG declaring as much (IHDR width and height, with its CRC fixed).
  std::vector<uint8_t> png = encode_indexed_png({4, 4, std::vector<uint8_t>(16, 1), davis_palette()});
  for (size_t at : {16, 20}) png[at] = 0, png[at + 1] = 0, png[at + 2] = 26000 >> 8, png[at + 3] = 26000 & 0xFF;
  const uint32_t crc = png_crc32(&png[12], 17);
  for (int i = 0; i < 4; ++i) png[29 + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  CHECK(contains(error_of([&] { decode_indexed_png(png, "mask.png"); }), "mask.png is 26000x26000 pixels"));

  // The limit can be raised (siammae --max-pixels), and lowered.
  set_max_image_pixels(1000);
  CHECK(contains(error_of([&] { read_image(dir / "small.jpg"); }), "is 40x30 pixels, more than the limit of 1000"));
  set_max_image_pixels(1200);
  CHECK(read_image(dir / "small.jpg").width == 40);
  set_max_image_pixels(kDefaultMaxImagePixels);
}

TEST_CASE("make_grid places equal tiles on white, pad pixels apart") {
  const Image black{2, 3, 3, std::vector<uint8_t>(18, 0)};
  const Image grid = make_grid({{black, black}, {black}}, 1);
  CHECK(grid.height == 1 + 2 * (2 + 1));
  CHECK(grid.width == 1 + 2 * (3 + 1));
  const auto pixel = [&](int64_t y, int64_t x) { return grid.pixels[(y * grid.width + x) * 3]; };
  CHECK(pixel(0, 0) == 255);
  CHECK(pixel(1, 1) == 0);
  CHECK(pixel(1, 5) == 0);    // second tile of the first row
  CHECK(pixel(4, 5) == 255);  // the second row has one tile
  CHECK(contains(error_of([&] { make_grid({{black, test_image(3, 3)}}); }), "[make_grid] tile (0, 1) is 3x3x3"));
}

TEST_CASE("ImageNet normalization uses the torchvision constants and inverts exactly") {
  const Tensor x = rand({2, 3, 4, 5}, {.dtype = DType::F64});  // (B, 3, H, W)
  const Tensor y = imagenet_normalize(x);  // (B, 3, H, W)
  CHECK(y.to_vector<double>()[20] == doctest::Approx((x.to_vector<double>()[20] - 0.456) / 0.224));
  CHECK(closeness(imagenet_denormalize(y), x, 1e-12, 1e-12) <= 1);
  CHECK(contains(error_of([&] { imagenet_normalize(zeros({4, 5})); }), "[imagenet_normalize] expected (..., 3, H, W)"));
}

// ---------------------------------------------------------------- indexed PNG

TEST_CASE("the DAVIS palette is the one stored in the official annotation files") {
  const Palette palette = davis_palette();
  REQUIRE(palette.size() == 256);
  CHECK(palette[1] == std::array<uint8_t, 3>{128, 0, 0});
  CHECK(palette[2] == std::array<uint8_t, 3>{0, 128, 0});
  CHECK(palette[9] == std::array<uint8_t, 3>{191, 0, 0});
  CHECK(palette[255] == std::array<uint8_t, 3>{255, 255, 255});
  if (!have_shared_data("fixtures/bmx-trees-davis2017-frame0")) return;
  CHECK(read_indexed_png(shared_data("fixtures/bmx-trees-davis2017-frame0/Annotations/480p/bmx-trees/00000.png"))
            .palette == palette);
}

// stb_image's own decoding of `path` to RGB must equal palette[index] at every pixel.
void check_colours_match_stb(const std::string& path, const IndexedImage& mask) {
  const std::vector<uint8_t> bytes = read_file(path, "test");
  int w = 0, h = 0, c = 0;
  stbi_uc* rgb = stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &w, &h, &c, 3);
  REQUIRE(rgb != nullptr);
  REQUIRE((h == mask.height && w == mask.width));
  int64_t mismatches = 0;
  for (int64_t i = 0; i < mask.height * mask.width; ++i) {
    const auto expected = mask.palette.empty()
                              ? std::array<uint8_t, 3>{mask.indices[i], mask.indices[i], mask.indices[i]}
                              : mask.palette.at(mask.indices[i]);
    for (int ch = 0; ch < 3; ++ch) mismatches += rgb[i * 3 + ch] != expected[ch];
  }
  stbi_image_free(rgb);
  CHECK(mismatches == 0);
}

TEST_CASE("real DAVIS masks: palette indices, not colours, and stb's colours equal palette[index]") {
  if (!have_shared_data("fixtures/bmx-trees-davis2017-frame0") || !have_shared_data("davis2016-val8")) return;
  const std::string two_objects =
      shared_data("fixtures/bmx-trees-davis2017-frame0/Annotations/480p/bmx-trees/00000.png");
  const IndexedImage mask = read_indexed_png(two_objects);
  CHECK((mask.height == 480 && mask.width == 854));
  std::map<int, int64_t> counts;
  for (uint8_t v : mask.indices) ++counts[v];
  CHECK(counts == std::map<int, int64_t>{{0, 395483}, {1, 6466}, {2, 7971}});
  CHECK(object_ids(mask) == std::vector<int>{1, 2});
  check_colours_match_stb(two_objects, mask);

  // The DAVIS 2016 mask of the same frame is the union of the two objects.
  const std::string one_object = shared_data("davis2016-val8/Annotations/480p/bmx-trees/00000.png");
  const IndexedImage union_mask = read_indexed_png(one_object);
  int64_t differences = 0;
  for (size_t i = 0; i < mask.indices.size(); ++i)
    differences += (mask.indices[i] != 0) != (union_mask.indices[i] == 1);
  CHECK(differences == 0);
  CHECK(object_ids(union_mask) == std::vector<int>{1});
  check_colours_match_stb(one_object, union_mask);
}

TEST_CASE("indexed PNG round-trips at every bit depth and row filter, and stb agrees on the colours") {
  TempDir dir;
  for (int depth : {1, 2, 4, 8}) {
    IndexedImage image{7, 13, std::vector<uint8_t>(7 * 13), davis_palette()};
    for (size_t i = 0; i < image.indices.size(); ++i)
      image.indices[i] = static_cast<uint8_t>((i * 37 + i / 13) % (1 << depth));
    for (int filter = 0; filter <= 4; ++filter) {
      CAPTURE(depth);
      CAPTURE(filter);
      const std::string path = dir / ("mask-" + std::to_string(depth) + "-" + std::to_string(filter) + ".png");
      write_bytes(path, encode_indexed_png(image, {depth, filter}));
      const IndexedImage back = read_indexed_png(path);
      CHECK(back.indices == image.indices);
      CHECK(back.palette == image.palette);
      check_colours_match_stb(path, back);
    }
  }
  // No palette: 8-bit greyscale whose grey value is the index (how VIP stores class ids).
  IndexedImage classes{3, 5, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 19}, {}};
  write_indexed_png(dir / "classes.png", classes);
  const IndexedImage back = read_indexed_png(dir / "classes.png");
  CHECK(back.indices == classes.indices);
  CHECK(back.palette.empty());
  check_colours_match_stb(dir / "classes.png", back);
  CHECK(contains(error_of([&] {
                   encode_indexed_png({1, 1, {9}, davis_palette()}, {2, 0});
                 }),
                 "index 9 does not fit in 2 bits"));
}

TEST_CASE("zlib streams: a round trip, a cap on the output, truncated and corrupt input") {
  std::vector<uint8_t> bytes(300000);
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(i * 7 % 251);
  const std::vector<uint8_t> packed = zlib_compress(bytes);
  std::vector<uint8_t> out;
  CHECK(zlib_inflate(packed.data(), packed.size(), bytes.size() + 1, out));
  CHECK(out == bytes);
  CHECK(zlib_inflate(packed.data(), packed.size(), 1000, out));  // stops at the cap
  CHECK(out == std::vector<uint8_t>(bytes.begin(), bytes.begin() + 1000));
  CHECK_FALSE(zlib_inflate(packed.data(), packed.size() / 2, bytes.size(), out));  // input ends early
  std::vector<uint8_t> corrupt = packed;
  corrupt[0] ^= 0xFF;  // the header
  CHECK_FALSE(zlib_inflate(corrupt.data(), corrupt.size(), bytes.size(), out));
  CHECK_FALSE(zlib_inflate(nullptr, 0, 10, out));
}

TEST_CASE("bad indexed PNGs: each message names the file and the problem") {
  TempDir dir;
  const std::vector<uint8_t> good = encode_indexed_png({4, 4, std::vector<uint8_t>(16, 1), davis_palette()});
  const auto message = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
    write_bytes(dir / name, bytes);
    return error_of([&] { read_indexed_png(dir / name); });
  };
  CHECK(contains(error_of([&] { read_indexed_png(dir / "missing.png"); }), "cannot open " + dir / "missing.png"));
  CHECK(contains(message("text.png", {'n', 'o'}), dir / "text.png is not a PNG file"));
  CHECK(contains(message("short.png", std::vector<uint8_t>(good.begin(), good.begin() + good.size() - 20)),
                 dir / "short.png is truncated"));
  std::vector<uint8_t> flipped = good;
  flipped[45] ^= 0xFF;  // inside the PLTE chunk's data
  CHECK(contains(message("crc.png", flipped), dir / "crc.png is corrupt (CRC mismatch in chunk PLTE)"));

  // The same file marked interlaced (IHDR byte 12), with its CRC fixed so only that is wrong.
  std::vector<uint8_t> interlaced = good;
  interlaced[8 + 8 + 12] = 1;
  const uint32_t crc = png_crc32(&interlaced[12], 17);
  for (int i = 0; i < 4; ++i) interlaced[29 + i] = static_cast<uint8_t>(crc >> (24 - 8 * i));
  CHECK(contains(message("interlaced.png", interlaced), dir / "interlaced.png is interlaced"));

  write_png(dir / "rgb.png", test_image(4, 4));
  CHECK(contains(error_of([&] { read_indexed_png(dir / "rgb.png"); }),
                 dir / "rgb.png has colour type 2 and bit depth 8; expected an indexed (palette) PNG"));
}

// ---------------------------------------------------------------- resizing

TEST_CASE("resize_bilinear matches torch interpolate(bilinear, align_corners=False)") {
  const Tensor x = from_vector(std::vector<float>{1, 2, 3, 4}, {1, 2, 2});  // (1, 2, 2)
  // torch.nn.functional.interpolate(x[None], size=(4, 4), mode="bilinear", align_corners=False)
  const Tensor expected = from_vector(std::vector<float>{1.00f, 1.25f, 1.75f, 2.00f, 1.50f, 1.75f, 2.25f, 2.50f,  //
                                                         2.50f, 2.75f, 3.25f, 3.50f, 3.00f, 3.25f, 3.75f, 4.00f},
                                      {1, 4, 4});
  CHECK(closeness(resize_bilinear(x, 4, 4), expected, 1e-6, 1e-6) <= 1);
  // Halving takes the mean of each 2x2 block: source positions 0.5 and 2.5.
  const Tensor ramp = arange(0, 16).reshape({1, 4, 4});  // (1, 4, 4)
  CHECK(closeness(resize_bilinear(ramp, 2, 2), from_vector(std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f}, {1, 2, 2}),
                  1e-6, 1e-6) <= 1);
  CHECK(same_tensor(resize_bilinear(ramp, 4, 4), ramp));
  // Any leading dims, any floating dtype; the dtype is kept.
  const Tensor labels = rand({2, 3, 5, 6}, {.dtype = DType::F64});  // (B, K, H, W)
  const Tensor resized = resize_bilinear(labels, 9, 4);  // (B, K, 9, 4)
  CHECK(resized.shape() == Shape{2, 3, 9, 4});
  CHECK(resized.dtype() == DType::F64);
  CHECK(contains(error_of([&] { resize_bilinear(ramp, 0, 3); }), "[resize_bilinear] output size must be positive"));
}

TEST_CASE("resized_crop: a crop resized, with torch's antialias weights, and mirrored on request") {
  const Image image = test_image(20, 30);
  const CropBox box{3, 5, 12, 16};
  // Without antialias it is resize_bilinear of the cropped pixels.
  Image cropped{box.height, box.width, 3, {}};
  for (int64_t y = 0; y < box.height; ++y)
    for (int64_t x = 0; x < box.width; ++x)
      for (int64_t c = 0; c < 3; ++c)
        cropped.pixels.push_back(image.pixels[((box.top + y) * image.width + box.left + x) * 3 + c]);
  CHECK(closeness(resized_crop(image, box, 7, 9, false), resize_bilinear(image_to_tensor(cropped), 7, 9), 1e-6, 1e-6) <=
        1);
  // Mirroring = the unmirrored result read right to left.
  const std::vector<float> plain = resized_crop(image, box, 6, 8).to_vector<float>();
  const std::vector<float> mirrored = resized_crop(image, box, 6, 8, true, true).to_vector<float>();
  int64_t mismatches = 0;
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < 6; ++y)
      for (int64_t x = 0; x < 8; ++x) mismatches += plain[(c * 6 + y) * 8 + x] != mirrored[(c * 6 + y) * 8 + 7 - x];
  CHECK(mismatches == 0);
  // Antialiased halving of a row: torch weights (1/8, 3/8, 3/8, 1/8) around each output pixel.
  Image row{1, 8, 1, {0, 8, 16, 24, 32, 40, 48, 56}};
  const std::vector<float> half = resized_crop(row, {0, 0, 1, 8}, 1, 4).to_vector<float>();
  CHECK(half[1] * 255 == doctest::Approx((8 * 1 + 16 * 3 + 24 * 3 + 32 * 1) / 8.0));
  CHECK(half[0] * 255 == doctest::Approx((0 * 3 + 8 * 3 + 16 * 1) / 7.0));  // at the edge: renormalized
  CHECK(contains(error_of([&] {
                   resized_crop(image, {15, 0, 10, 10}, 4, 4);
                 }),
                 "[resized_crop] crop (top 15, left 0, 10x10) does not fit in a 20x30 image"));
}

// ---------------------------------------------------------------- pairs and augmentation

TEST_CASE("frame pairs: gap uniform in [gap_min, gap_max] clamped to the clip, f1 first, inside the clip") {
  Generator gen(3);
  std::set<int64_t> gaps, firsts;
  for (int i = 0; i < 20000; ++i) {
    const FramePair pair = sample_frame_pair(100, 4, 48, gen);
    REQUIRE(pair.first >= 0);
    REQUIRE(pair.second < 100);
    gaps.insert(pair.second - pair.first);
    firsts.insert(pair.first);
  }
  CHECK(*gaps.begin() == 4);
  CHECK(*gaps.rbegin() == 48);
  CHECK(gaps.size() == 45);  // every gap occurs
  CHECK(*firsts.rbegin() == 95);
  std::set<int64_t> short_gaps;  // a 20-frame clip allows gaps up to 19
  for (int i = 0; i < 2000; ++i) {
    const FramePair pair = sample_frame_pair(20, 4, 48, gen);
    short_gaps.insert(pair.second - pair.first);
  }
  CHECK(*short_gaps.rbegin() == 19);
  CHECK(sample_frame_pair(5, 4, 48, gen).second == 4);  // gap_min + 1 frames: the only pair
  CHECK(contains(error_of([&] { sample_frame_pair(4, 4, 48, gen); }), "a clip of 4 frames has no two frames 4 apart"));
  CHECK(contains(error_of([&] { sample_frame_pair(40, 9, 8, gen); }), "need 1 <= gap_min <= gap_max"));
  CHECK(derive_seed(1, 2, 3) != derive_seed(1, 2, 4));
  CHECK(derive_seed(1, 2, 3) != derive_seed(1, 3, 3));
  CHECK(derive_seed(1, 2, 3) != derive_seed(2, 2, 3));
}

TEST_CASE("random resized crop: area fraction and aspect ratio in range, box inside the image") {
  Generator gen(11);
  for (int i = 0; i < 2000; ++i) {
    const CropBox box = sample_crop(256, 455, {0.5, 1.0}, {3.0 / 4.0, 4.0 / 3.0}, gen);
    REQUIRE((box.top >= 0 && box.left >= 0 && box.top + box.height <= 256 && box.left + box.width <= 455));
    const double area = static_cast<double>(box.height * box.width) / (256.0 * 455.0);
    const double ratio = static_cast<double>(box.width) / static_cast<double>(box.height);
    CHECK((area > 0.49 && area <= 1.0));
    CHECK((ratio > 0.74 && ratio < 1.34));
  }
  // No box of that shape fits: torchvision's fallback, a centre crop clamped to the ratio.
  const CropBox fallback = sample_crop(100, 100, {0.9, 1.0}, {3.0, 4.0}, gen);
  CHECK((fallback.top == 33 && fallback.left == 0 && fallback.height == 33 && fallback.width == 100));
  CHECK(contains(error_of([&] { sample_crop(10, 10, {0.5, 1.5}, {1, 1}, gen); }), "[augment] crop scale must"));
}

TEST_CASE("augment_pair gives both frames the same crop and flip") {
  const Image f1 = test_image(40, 60);
  Image f2 = f1;
  for (uint8_t& v : f2.pixels) v = static_cast<uint8_t>(255 - v);  // a different frame, pixel for pixel related
  AugmentOptions options;
  options.image_size = 16;
  std::set<bool> flips;
  for (uint64_t seed = 0; seed < 16; ++seed) {
    Generator gen(seed);
    const AugmentedPair pair = augment_pair(f1, f2, options, gen);
    CHECK(pair.f1.shape() == Shape{3, 16, 16});
    // Resampling is linear with weights summing to 1, so the same crop of 255 - f1 gives 1 - out1.
    CHECK(closeness(pair.f2, 1.0 - pair.f1, 1e-5, 1e-5) <= 1);
    CHECK(same_tensor(pair.f1, resized_crop(f1, pair.crop, 16, 16, true, pair.flipped)));
    flips.insert(pair.flipped);
  }
  CHECK(flips.size() == 2);
  options.hflip_prob = 0;
  Generator gen(1);
  CHECK_FALSE(augment_pair(f1, f2, options, gen).flipped);
  CHECK(contains(error_of([&] { augment_pair(f1, test_image(40, 61), options, gen); }),
                 "[augment_pair] the frames differ in size: 40x60x3 and 40x61x3"));
}

TEST_CASE("colour jitter is off by default and, when on, changes each frame within [0, 1]") {
  const Image frame = test_image(32, 32);
  AugmentOptions options;
  options.image_size = 8;
  Generator gen(5);
  AugmentedPair pair = augment_pair(frame, frame, options, gen);
  CHECK(same_tensor(pair.f1, pair.f2));
  options.jitter = {0.4, 0.4, 0.4};
  pair = augment_pair(frame, frame, options, gen);
  CHECK_FALSE(same_tensor(pair.f1, pair.f2));  // drawn separately for each frame
  for (float v : pair.f1.to_vector<float>()) REQUIRE((v >= 0 && v <= 1));
  // Brightness alone scales every value by one factor from [0.6, 1.4] (no clamping below 0.5).
  const Tensor dim = resized_crop(frame, {0, 0, 32, 32}, 4, 4) * 0.5;  // (3, 4, 4)
  const Tensor jittered = dim.clone();  // (3, 4, 4)
  Generator brightness(0);
  color_jitter_(jittered, {0.4, 0, 0}, brightness);
  const std::vector<float> before = dim.to_vector<float>(), after = jittered.to_vector<float>();
  const float factor = after[5] / before[5];
  CHECK((factor >= 0.6f && factor <= 1.4f));
  for (size_t i = 0; i < before.size(); ++i) CHECK(after[i] == doctest::Approx(before[i] * factor).epsilon(1e-5));
}

// ---------------------------------------------------------------- video folders and the index cache

TEST_CASE("video folders: clips in name order, frames in name order, several roots, a root that is one clip") {
  TempDir dir;
  write_clips(dir / "a", 3, 6);
  write_clips(dir / "b", 2, 7);
  fs::create_directories(dir / "a/LICENSES");  // a folder without frames is not a clip
  VideoDatasetOptions options{5, dir / "cache", true};
  const VideoDataset dataset = VideoDataset::open(dir / "a" + "," + dir / "b", options);
  REQUIRE(dataset.videos.size() == 5);
  CHECK(dataset.videos[0].name == "clip-0");
  CHECK(dataset.videos[3].folder == dir / "b/clip-0");
  CHECK(dataset.videos[3].num_frames() == 7);
  CHECK(dataset.videos[0].frame_paths[5] == dir / "a/clip-0/00005.jpg");
  CHECK(dataset.skipped.empty());
  const VideoDataset single = VideoDataset::open(dir / "a/clip-1", options);
  REQUIRE(single.videos.size() == 1);
  CHECK(single.videos[0].name == "clip-1");
}

TEST_CASE("the video index is cached outside the data, reused, and a changed folder is listed again") {
  TempDir dir;
  write_clips(dir / "data", 3, 6);
  for (int c = 0; c < 3; ++c) age_folder(dir / ("data/clip-" + std::to_string(c)));
  VideoDatasetOptions options{5, dir / "cache", true};
  const VideoDataset first = VideoDataset::open(dir / "data", options);
  CHECK(first.listed_from_cache == 0);
  CHECK(std::distance(fs::directory_iterator(dir / "cache"), fs::directory_iterator()) == 1);
  const VideoDataset second = VideoDataset::open(dir / "data", options);
  CHECK(second.listed_from_cache == 3);
  CHECK(second.videos[2].frame_paths == first.videos[2].frame_paths);

  // A new frame in clip-1 changes that folder's time stamp: only it is listed again.
  fs::copy_file(dir / "data/clip-1/00000.jpg", dir / "data/clip-1/00006.jpg");
  fs::last_write_time(dir / "data/clip-1", fs::file_time_type::clock::now() - std::chrono::minutes(30));
  const VideoDataset third = VideoDataset::open(dir / "data", options);
  CHECK(third.listed_from_cache == 2);
  CHECK(third.videos[1].num_frames() == 7);

  // A folder changed moments ago is listed but not trusted to the cache yet.
  fs::copy_file(dir / "data/clip-2/00000.jpg", dir / "data/clip-2/00006.jpg");
  CHECK(VideoDataset::open(dir / "data", options).listed_from_cache == 2);
  CHECK(VideoDataset::open(dir / "data", options).listed_from_cache == 2);

  // A corrupt cache file is ignored; use_cache = false neither reads nor writes it.
  for (const auto& entry : fs::directory_iterator(dir / "cache")) write_bytes(entry.path().string(), {'{'});
  CHECK(VideoDataset::open(dir / "data", options).listed_from_cache == 0);
  options.use_cache = false;
  options.cache_dir = dir / "unused";
  CHECK(VideoDataset::open(dir / "data", options).listed_from_cache == 0);
  CHECK_FALSE(fs::exists(dir / "unused"));
}

TEST_CASE("bad video folders: missing or empty root, empty clip folder, one-frame clips") {
  TempDir dir;
  const VideoDatasetOptions options{5, dir / "cache", true};
  CHECK(contains(error_of([&] { VideoDataset::open(dir / "nowhere", options); }),
                 "[videos] data folder " + dir / "nowhere" + " does not exist"));
  fs::create_directories(dir / "empty");
  CHECK(contains(error_of([&] { VideoDataset::open(dir / "empty", options); }),
                 "[videos] " + dir / "empty" + " holds no clip folders"));
  CHECK(contains(error_of([&] { read_video_folder(dir / "empty"); }),
                 "[video] no frames (.jpg, .jpeg, .png) in " + dir / "empty"));
  CHECK(contains(error_of([&] { VideoDataset::open(std::string(","), options); }), "[videos] no data folder given"));

  write_clips(dir / "short", 2, 1);  // two one-frame clips
  CHECK(contains(error_of([&] { VideoDataset::open(dir / "short", options); }),
                 "[videos] no usable clip in " + dir / "short" + ": 2 shorter than 5 frames"));
  write_clips(dir / "mixed", 2, 6);
  fs::rename(dir / "short/clip-0", dir / "mixed/one-frame");
  const VideoDataset mixed = VideoDataset::open(dir / "mixed", options);
  CHECK(mixed.videos.size() == 2);
  CHECK(mixed.skipped == std::vector<std::string>{dir / "mixed/one-frame"});
}

// ---------------------------------------------------------------- the loader

// A loader over `clips` synthetic clips of `frames` frames, with small batches for fast tests.
PairLoaderOptions small_loader_options(int64_t workers) {
  PairLoaderOptions options;
  options.image_size = 16;
  options.batch_size = 4;
  options.workers = workers;
  options.seed = 42;
  options.gap_min = 2;
  options.gap_max = 6;
  options.prefetch = 3;
  return options;
}

TEST_CASE("the loader: batch k is a pure function of (seed, k), whatever the workers; resuming continues exactly") {
  TempDir dir;
  write_clips(dir / "data", 5, 9);
  const VideoDataset dataset = VideoDataset::open(dir / "data", {3, dir / "cache", true});
  std::vector<PairBatch> reference;
  {
    PairLoader loader(dataset, small_loader_options(0));
    CHECK(loader.pairs_per_epoch() == 10);
    for (int k = 0; k < 6; ++k) reference.push_back(loader.next());
  }
  for (int64_t workers : {1, 3}) {
    CAPTURE(workers);
    PairLoader loader(dataset, small_loader_options(workers));
    for (int k = 0; k < 6; ++k) {
      const PairBatch batch = loader.next();
      CHECK(batch.index == k);
      CHECK(same_tensor(batch.f1, reference[k].f1));
      CHECK(same_tensor(batch.f2, reference[k].f2));
    }
    CHECK(loader.wait_seconds() >= 0);
  }
  PairLoader resumed(dataset, small_loader_options(2), 3);
  for (int k = 3; k < 6; ++k) {
    const PairBatch batch = resumed.next();
    CHECK(batch.index == k);
    CHECK(batch.epoch == k * small_loader_options(2).batch_size / 10);
    CHECK(same_tensor(batch.f1, reference[k].f1));
    CHECK(same_tensor(batch.f2, reference[k].f2));
  }
  PairLoaderOptions other_seed = small_loader_options(0);
  other_seed.seed = 43;
  CHECK_FALSE(same_tensor(PairLoader(dataset, other_seed).next().f1, reference[0].f1));
}

TEST_CASE("the loader in shards: shard s takes rows s, s + shards, ... of the global batch, resumable") {
  TempDir dir;
  write_clips(dir / "data", 3, 9);
  const VideoDataset dataset = VideoDataset::open(dir / "data", {3, dir / "cache", true});
  PairLoaderOptions global = small_loader_options(0);
  global.batch_size = 6;  // 3 videos x 2 repeats: global batches cross epochs
  PairLoader whole(dataset, global);
  std::vector<PairBatch> expected;
  for (int k = 0; k < 4; ++k) expected.push_back(whole.next());
  for (int64_t shard = 0; shard < 3; ++shard) {
    CAPTURE(shard);
    PairLoaderOptions options = small_loader_options(2);
    options.batch_size = 2, options.shard = shard, options.shards = 3;
    PairLoader part(dataset, options, 1);  // from batch 1, as a resumed run
    for (int k = 1; k < 4; ++k) {
      const PairBatch batch = part.next();
      CHECK(batch.index == k);
      CHECK(batch.epoch == expected[k].epoch);
      for (int64_t row = 0; row < 2; ++row) {
        const int64_t global_row = shard + 3 * row;
        CHECK(same_tensor(batch.f1.narrow(0, row, 1), expected[k].f1.narrow(0, global_row, 1)));
        CHECK(same_tensor(batch.f2.narrow(0, row, 1), expected[k].f2.narrow(0, global_row, 1)));
        CHECK(batch.sources[row].video == expected[k].sources[global_row].video);
        CHECK(batch.sources[row].first == expected[k].sources[global_row].first);
      }
    }
  }
  PairLoaderOptions bad = small_loader_options(0);
  bad.shard = 2, bad.shards = 2;
  CHECK_THROWS_WITH(PairLoader(dataset, bad), "[PairLoader] shard 2 of 2 does not exist: need 0 <= shard < shards");
}

TEST_CASE("the loader: rows are their sources' crops, normalized; repeated sampling; gaps in range") {
  TempDir dir;
  write_clips(dir / "data", 4, 9);
  const VideoDataset dataset = VideoDataset::open(dir / "data", {3, dir / "cache", true});
  PairLoaderOptions options = small_loader_options(2);
  options.batch_size = 2;
  PairLoader loader(dataset, options);
  CHECK(loader.pairs_per_epoch() == 8);
  std::map<std::string, int> pairs_per_video;
  for (int k = 0; k < 4; ++k) {
    const PairBatch batch = loader.next();
    CHECK(batch.f1.shape() == Shape{2, 3, 16, 16});
    CHECK(batch.f2.shape() == Shape{2, 3, 16, 16});
    REQUIRE(batch.sources.size() == 2);
    CHECK(batch.sources[0].video == batch.sources[1].video);  // the repeats of a video sit together
    for (const PairSource& source : batch.sources) {
      CHECK((source.second - source.first >= 2 && source.second - source.first <= 6 && source.second < 9));
      ++pairs_per_video[source.video];
    }
    // Each row is its source's crop and flip of its frames, ImageNet-normalized.
    for (int64_t row = 0; row < 2; ++row) {
      const PairSource& source = batch.sources[row];
      const auto video = std::find_if(dataset.videos.begin(), dataset.videos.end(),
                                      [&](const Video& v) { return v.name == source.video; });
      REQUIRE(video != dataset.videos.end());
      // (frame index, its batch tensor (B, 3, 16, 16))
      for (const auto& [frame, tensor] : {std::pair{source.first, batch.f1}, std::pair{source.second, batch.f2}}) {
        const Tensor expected = imagenet_normalize(  // (3, 16, 16)
            resized_crop(read_image(video->frame_paths[frame]), source.crop, 16, 16, true, source.flipped));
        CHECK(closeness(tensor.narrow(0, row, 1).squeeze(0), expected, 1e-6, 1e-6) <= 1);
      }
    }
  }
  CHECK(pairs_per_video == std::map<std::string, int>{{"clip-0", 2}, {"clip-1", 2}, {"clip-2", 2}, {"clip-3", 2}});
  CHECK(loader.next().epoch == 1);
}

TEST_CASE("the loader: a batch larger than an epoch takes the next epoch's pairs") {
  TempDir dir;
  write_clips(dir / "data", 2, 9);
  const VideoDataset dataset = VideoDataset::open(dir / "data", {3, dir / "cache", true});
  PairLoaderOptions options = small_loader_options(1);
  options.batch_size = 7;  // 2 videos x 2 repeats = 4 pairs per epoch
  PairLoader loader(dataset, options);
  const PairBatch first = loader.next(), second = loader.next();
  CHECK(first.epoch == 0);
  CHECK(second.epoch == 1);  // pairs 7..13: epochs 1, 2 and 3
  std::map<std::string, int> seen;
  for (const PairSource& source : first.sources) ++seen[source.video];
  // Epoch 0 gives each video twice; epoch 1 adds one video twice and the other once.
  CHECK(seen.size() == 2);
  CHECK(seen["clip-0"] + seen["clip-1"] == 7);
  CHECK(std::min(seen["clip-0"], seen["clip-1"]) == 3);
}

TEST_CASE("the loader: a corrupt frame fails its batch with the file's name; bad options fail at construction") {
  TempDir dir;
  write_clips(dir / "data", 2, 4);
  const VideoDataset dataset = VideoDataset::open(dir / "data", {3, dir / "cache", true});
  for (int f = 0; f < 4; ++f)
    write_bytes(dir / ("data/clip-1/0000" + std::to_string(f) + ".jpg"), {0xFF, 0xD8, 0xFF, 0});
  PairLoaderOptions options = small_loader_options(2);
  options.batch_size = 1;
  options.repeats = 1;
  options.gap_min = 1;
  options.gap_max = 3;
  {
    PairLoader loader(dataset, options);
    std::string message;
    for (int k = 0; k < 2 && message.empty(); ++k) message = error_of([&] { loader.next(); });
    CHECK(contains(message, "[read_image] cannot decode " + dir / "data/clip-1/"));
  }  // the destructor stops the workers cleanly

  options.batch_size = 1;
  options.gap_min = 4;
  options.gap_max = 8;
  CHECK(contains(error_of([&] { PairLoader loader(dataset, options); }),
                 "[PairLoader] clip " + dir / "data/clip-0" + " has 4 frames, too few for a gap of 4"));
  options.gap_min = 1;
  options.crop_scale = {0.0, 1.0};
  CHECK(contains(error_of([&] { PairLoader loader(dataset, options); }), "[augment] crop scale must satisfy"));
}

TEST_CASE("the loader shuts down promptly with a full queue") {
  TempDir dir;
  write_clips(dir / "data", 3, 6);
  const VideoDataset dataset = VideoDataset::open(dir / "data", {3, dir / "cache", true});
  const auto start = std::chrono::steady_clock::now();
  {
    PairLoader loader(dataset, small_loader_options(2));
    loader.next();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the workers fill the queue and wait
  }
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
}

// ---------------------------------------------------------------- DAVIS datasets

TEST_CASE("synthetic DAVIS videos: the layout, exact masks, moving objects, reproducible by seed") {
  TempDir dir;
  write_synthetic_davis(dir / "davis", {2, 4, 48, 64, 3, 9});
  const DavisDataset dataset = DavisDataset::open(dir / "davis");
  REQUIRE(dataset.sequences.size() == 2);
  const DavisSequence& sequence = dataset.sequence("synthetic-1");
  CHECK(sequence.frame_paths.size() == 4);
  CHECK(sequence.mask_paths.size() == 4);
  CHECK(sequence.mask_frames == std::vector<int64_t>{0, 1, 2, 3});
  const std::vector<IndexedImage> masks = read_masks(sequence);
  CHECK(masks[0].palette == davis_palette());
  CHECK(object_ids(read_first_mask(sequence)).size() >= 2);  // three objects, one may hide another
  CHECK(masks[0].indices != masks[3].indices);               // they move
  const Image frame = read_image(sequence.frame_paths[0]);
  CHECK((frame.height == 48 && frame.width == 64));

  write_synthetic_davis(dir / "again", {2, 4, 48, 64, 3, 9});
  CHECK(read_file(dir / "again/Annotations/480p/synthetic-1/00002.png", "test") ==
        read_file(dir / "davis/Annotations/480p/synthetic-1/00002.png", "test"));
  CHECK(contains(error_of([&] { dataset.sequence("bear"); }), "[davis] no sequence bear in " + dir / "davis"));
}

TEST_CASE("the real DAVIS 2016 sample opens: 8 sequences, every frame annotated, one object") {
  if (!have_shared_data("davis2016-val8/ImageSets/2017/val.txt")) return;
  const DavisDataset dataset = DavisDataset::open(shared_data("davis2016-val8"));
  REQUIRE(dataset.sequences.size() == 8);
  const std::map<std::string, size_t> frames = {{"blackswan", 50}, {"bmx-trees", 80},      {"car-shadow", 40},
                                                {"dog", 60},       {"horsejump-high", 50}, {"kite-surf", 50},
                                                {"libby", 49},     {"scooter-black", 43}};
  for (const DavisSequence& sequence : dataset.sequences) {
    CAPTURE(sequence.name);
    CHECK(sequence.frame_paths.size() == frames.at(sequence.name));
    CHECK(sequence.mask_paths.size() == sequence.frame_paths.size());
    const IndexedImage first = read_first_mask(sequence);
    CHECK((first.height == 480 && first.width == 854));
    CHECK(object_ids(first) == std::vector<int>{1});
  }
  std::set<uint8_t> values;
  for (const IndexedImage& mask : read_masks(dataset.sequence("car-shadow")))
    values.insert(mask.indices.begin(), mask.indices.end());
  CHECK(values == std::set<uint8_t>{0, 1});
}

TEST_CASE("bad DAVIS folders: missing list, missing sequence, empty frames, mask without frame, mask size") {
  TempDir dir;
  write_synthetic_davis(dir / "davis", {1, 3, 32, 40, 1, 0});
  CHECK(contains(error_of([&] { DavisDataset::open(dir / "davis", "train"); }),
                 "[davis] no sequence list " + dir / "davis/ImageSets/2017/train.txt"));
  write_bytes(dir / "davis/ImageSets/2017/val.txt", {'g', 'o', 'n', 'e', '\n'});
  CHECK(contains(error_of([&] { DavisDataset::open(dir / "davis"); }),
                 "[davis] sequence gone: no frame folder " + dir / "davis/JPEGImages/480p/gone"));

  write_bytes(dir / "davis/ImageSets/2017/val.txt", {'s', 'y', 'n', 't', 'h', 'e', 't', 'i', 'c', '-', '0', '\n'});
  fs::copy_file(dir / "davis/Annotations/480p/synthetic-0/00000.png",
                dir / "davis/Annotations/480p/synthetic-0/00009.png");
  CHECK(contains(error_of([&] { DavisDataset::open(dir / "davis"); }),
                 "[davis] mask " + dir / "davis/Annotations/480p/synthetic-0/00009.png" + " has no frame named 00009"));
  fs::remove(dir / "davis/Annotations/480p/synthetic-0/00009.png");

  // A mask of the wrong size: the message names both files and both sizes.
  write_indexed_png(dir / "davis/Annotations/480p/synthetic-0/00001.png",
                    {16, 20, std::vector<uint8_t>(320, 1), davis_palette()});
  const DavisDataset dataset = DavisDataset::open(dir / "davis");
  CHECK(contains(error_of([&] { read_masks(dataset.sequences[0]); }),
                 "[davis] mask " + dir / "davis/Annotations/480p/synthetic-0/00001.png" +
                     " is 16x20 (HxW) but its frame " + dir / "davis/JPEGImages/480p/synthetic-0/00001.jpg" +
                     " is 32x40"));

  // A list naming anything but a folder: results are written under the name.
  write_bytes(dir / "davis/ImageSets/2017/val.txt", {'.', '.', '/', 'x', '\n'});
  CHECK(contains(error_of([&] { DavisDataset::open(dir / "davis"); }), "names '../x', which is not a folder name"));
  write_bytes(dir / "davis/ImageSets/2017/val.txt", {'s', 'y', 'n', 't', 'h', 'e', 't', 'i', 'c', '-', '0', '\n'});

  fs::remove(dir / "davis/Annotations/480p/synthetic-0/00000.png");
  CHECK(contains(error_of([&] { read_first_mask(DavisDataset::open(dir / "davis").sequences[0]); }),
                 "[davis] sequence synthetic-0 has no mask for its first frame"));
  for (const auto& entry : fs::directory_iterator(dir / "davis/JPEGImages/480p/synthetic-0")) fs::remove(entry.path());
  CHECK(contains(error_of([&] { DavisDataset::open(dir / "davis"); }),
                 "[davis] sequence synthetic-0: no frames in " + dir / "davis/JPEGImages/480p/synthetic-0"));
}
