// sharp in one process on one thread: INPUT jpeg|webp WIDTH SECONDS.
// Prints images/s and peak RSS as JSON, like media-bench.
import { readFileSync } from "node:fs";
import { resourceUsage } from "node:process";
import sharp from "sharp";

const [input, format, width, seconds] = process.argv.slice(2);
sharp.concurrency(1);
const bytes = readFileSync(input);
const one = () => {
  const pipeline = sharp(bytes).rotate().resize(Number(width));
  return (format === "webp" ? pipeline.webp({ quality: 80 }) : pipeline.jpeg({ quality: 80 })).toBuffer();
};
const warm = await one();
const start = performance.now();
let images = 0;
while (performance.now() - start < Number(seconds) * 1000) {
  await one();
  images += 1;
}
const secs = (performance.now() - start) / 1000;
console.log(JSON.stringify({
  images_per_sec: +(images / secs).toFixed(2),
  peak_rss_mb: +(resourceUsage().maxRSS / 1024).toFixed(1),
  output_bytes: warm.length,
}));
