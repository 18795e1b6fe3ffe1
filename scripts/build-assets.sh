#!/bin/sh
# Builds public/, the Workers static assets: the Amazon IVS web player from its npm package
# (bundled into one browser script, global `IVSPlayer`), its web worker and WebAssembly binary,
# hls.js as an alternative player, the IVS Web Broadcast SDK for the stage page and the IVS Chat
# messaging SDK for chat. No CDN is involved, at build time or at watch time.
set -eu
cd "$(dirname "$0")/.."
out=public/player
mkdir -p "$out"
player=node_modules/amazon-ivs-player/dist
node_modules/.bin/esbuild "$player/index.js" --bundle --format=iife --global-name=IVSPlayer \
  --platform=browser --minify --log-level=warning --outfile="$out/amazon-ivs-player.min.js"
cp "$player/assets/amazon-ivs-wasmworker.min.js" "$player/assets/amazon-ivs-wasmworker.min.wasm" "$out/"
cp node_modules/hls.js/dist/hls.min.js "$out/hls.min.js"
# The stage page's Amazon IVS Web Broadcast SDK (global `IVSBroadcastClient`).
mkdir -p public/sdk
node_modules/.bin/esbuild node_modules/amazon-ivs-web-broadcast/dist/amazon-ivs-web-broadcast.js --bundle --format=iife \
  --global-name=IVSBroadcastClient --platform=browser --minify --log-level=warning --outfile=public/sdk/amazon-ivs-web-broadcast.min.js
# The IVS Chat messaging SDK (global `IVSChatMessaging`: ChatRoom, SendMessageRequest,
# DeleteMessageRequest, DisconnectUserRequest). Its ESM build, so esbuild bundles its `uuid`
# dependency's browser build (crypto.randomUUID) rather than the Node one.
node_modules/.bin/esbuild node_modules/amazon-ivs-chat-messaging/dist/esm/index.js --bundle --format=iife \
  --global-name=IVSChatMessaging --platform=browser --minify --log-level=warning --outfile=public/sdk/amazon-ivs-chat-messaging.min.js
cat > public/_headers <<'HEADERS'
/player/*
  Cache-Control: public, max-age=3600
  X-Content-Type-Options: nosniff
/sdk/*
  Cache-Control: public, max-age=3600
  X-Content-Type-Options: nosniff
HEADERS
