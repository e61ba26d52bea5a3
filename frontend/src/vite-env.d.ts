/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** Base URL of the inference service; empty means the page's own origin. */
  readonly VITE_API_URL?: string;
}

interface ImportMeta {
  readonly env: ImportMetaEnv;
}
