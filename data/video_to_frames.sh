#!/bin/sh
# Turns a video file into a frame folder, the form of video the data loader reads:
#   OUT/00000.jpg, OUT/00001.jpg, ...   every decoded frame, in order, numbered from 00000,
# resized so the short side is 256 pixels (as in ../shared/data/pretrain), JPEG quality about 90.
#
# usage: data/video_to_frames.sh [--short-side N] [--fps R] [--quality Q] VIDEO OUT
#   --short-side N  short side in pixels (default 256; 0 keeps the original size)
#   --fps R         resample to R frames per second (default: keep every frame as decoded).
#                   SiamMAE's frame gaps (4 to 48) are counted at 30 fps.
#   --quality Q     ffmpeg's JPEG quality scale, 2 (best) to 31 (default 3)
#
# Needs ffmpeg 5.1 or newer (Debian: apt-get install ffmpeg). The library never calls it.
# A folder of videos:
#   for f in videos/*.mp4; do data/video_to_frames.sh "$f" "frames/$(basename "$f" .mp4)"; done
# then train with --data frames.
set -eu

short_side=256
fps=""
quality=3
usage() {
  sed -n '2,/^set -eu/{/^set -eu/d;s/^# \{0,1\}//;p;}' "$0" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --short-side) [ $# -ge 2 ] || usage; short_side=$2; shift 2 ;;
    --fps) [ $# -ge 2 ] || usage; fps=$2; shift 2 ;;
    --quality) [ $# -ge 2 ] || usage; quality=$2; shift 2 ;;
    -h|--help) usage ;;
    -*) echo "video_to_frames: unknown option $1" >&2; usage ;;
    *) break ;;
  esac
done
[ $# -eq 2 ] || usage
video=$1
out=$2

command -v ffmpeg >/dev/null 2>&1 || { echo "video_to_frames: ffmpeg not found (apt-get install ffmpeg)" >&2; exit 1; }
[ -f "$video" ] || { echo "video_to_frames: no such video file: $video" >&2; exit 1; }
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then
  echo "video_to_frames: $out is not empty; frames of two videos must not mix" >&2
  exit 1
fi
mkdir -p "$out"

# The short side becomes N, the long side keeps the aspect ratio (-1: rounded).
filters=""
if [ "$short_side" -gt 0 ]; then
  filters="scale='if(lt(iw,ih),$short_side,-1)':'if(lt(iw,ih),-1,$short_side)':flags=lanczos"
fi
if [ -n "$fps" ]; then
  filters="fps=$fps${filters:+,$filters}"
  timing=""
else
  timing="-fps_mode passthrough"  # every decoded frame once: none dropped or duplicated
fi

# shellcheck disable=SC2086  # $timing is two words or none
ffmpeg -hide_banner -loglevel error -nostdin -i "$video" ${filters:+-vf "$filters"} $timing \
  -q:v "$quality" -start_number 0 "$out/%05d.jpg"
echo "video_to_frames: $(find "$out" -name "*.jpg" | wc -l) frames in $out"
