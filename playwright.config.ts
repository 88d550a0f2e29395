// End-to-end tests in headless Debian Chromium (SwiftShader's WebGPU), against the vite server.
// `npx playwright install` cannot download browsers here: the system /usr/bin/chromium is used.
import { defineConfig } from '@playwright/test';

export default defineConfig({
  testDir: 'e2e',
  timeout: 180_000,
  expect: { timeout: 30_000 },
  workers: 1,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: 'http://127.0.0.1:5199',
    screenshot: 'only-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--enable-unsafe-webgpu',
      ],
    },
  },
  webServer: {
    command: 'npx vite --config vite.config.ts',
    url: 'http://127.0.0.1:5199/selfcheck.html',
    reuseExistingServer: false,
    timeout: 60_000,
  },
});
