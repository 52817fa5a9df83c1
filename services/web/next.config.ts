import type { NextConfig } from "next";

// A static site (no Node server in production): `next build` writes it to
// out/, scripts/build.mjs moves it to dist/, which the Go binary embeds.
const config: NextConfig = {
  output: "export",
  reactStrictMode: true,
  poweredByHeader: false,
  images: { unoptimized: true },
};

export default config;
