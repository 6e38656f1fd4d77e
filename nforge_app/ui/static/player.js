// NForge stimulus player: the stimulus (video or audio) beside the brain, in step with the time slider.
// Appended to viewer.js in gr.HTML's js_on_load (ui/_sections/viewer.py); viewer.js calls makeNforgePlayer
// once its own functions exist. What it receives per prediction: value.player (ui/_player.py's player_value)
// and the prediction's meta (times_s, tr_s).
// * playing the media moves the slider and the brain (the frame whose time is nearest the media's time);
// * moving the slider (or the arrow keys) seeks the media to the frame's time;
// * the words spoken around that moment show under it; on BOLD time (delay_s > 0) the words of about
//   delay_s earlier show too, as what the brain is responding to.
// hooks: setFrame(frame) (draws the brain at a frame), playing(isPlaying) (the viewer's play button label).
function makeNforgePlayer(root, hooks) {
  const box = root.querySelector(".nfv-media");
  const slot = root.querySelector(".nfv-media-slot");
  const nowWords = root.querySelector(".nfv-words-now");
  const thenWords = root.querySelector(".nfv-words-then");
  const note = root.querySelector(".nfv-delay-note");
  const source = root.querySelector(".nfv-words-from");
  const mark = root.querySelector(".nfv-delay-mark"), slider = root.querySelector(".nfv-time");
  const WINDOW_BEFORE_S = 2.5, WINDOW_AFTER_S = 0.6;
  const player = { media: null, info: null, times: [], raf: 0, shownKey: "" };

  function frameAt(time) {  // the frame whose time is nearest `time`
    const times = player.times;
    let lo = 0, hi = times.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (times[mid] <= time) lo = mid; else hi = mid - 1;
    }
    if (lo + 1 < times.length && times[lo + 1] - time < time - times[lo]) lo += 1;
    return lo;
  }

  // The words from `time - before` to `time + after`, the one being spoken at `time` marked.
  // The page is changed only when what it shows changes (a change costs a layout, which scrubbing feels).
  function wordsAround(node, time) {
    const words = player.info.words, shown = [];
    for (let i = 0; i < words.length; i++) {
      const [start, end] = words[i];
      if (end < time - WINDOW_BEFORE_S || start > time + WINDOW_AFTER_S) continue;
      shown.push([i, start <= time && time < end ? "nfv-word-now" : start > time ? "nfv-word-next" : ""]);
    }
    const key = shown.length ? shown.map(([i, kind]) => i + kind).join() : time < 0 ? "before" : "none";
    if (node.dataset.key === key) return;
    node.dataset.key = key;
    node.replaceChildren();
    for (const [i, kind] of shown) {
      const span = document.createElement("span");
      span.textContent = words[i][2] + " ";
      if (kind) span.className = kind;
      node.appendChild(span);
    }
    if (!shown.length) node.textContent = time < 0 ? "(before the stimulus starts)" : "(no words)";
  }

  function showWords(time) {
    if (!player.info) return;
    const key = time.toFixed(2);
    if (key === player.shownKey) return;
    player.shownKey = key;
    root.dataset.playerTime = key;
    placeMark(time);
    if (!player.info.words.length) return;
    wordsAround(nowWords, time);
    if (player.info.delay_s > 0) wordsAround(thenWords, time - player.info.delay_s);
  }

  // On BOLD time, a mark on the time slider where the stimulus was about delay_s before `time`: what the brain
  // shows now answers that moment.
  function placeMark(time) {
    const times = player.times, then = time - player.info.delay_s;
    if (!(player.info.delay_s > 0) || times.length < 2 || then < times[0]) { mark.hidden = true; return; }
    const fraction = (then - times[0]) / (times[times.length - 1] - times[0]);
    const thumb = 8;  // a range input's thumb keeps this far from its ends
    track = track || [slider.offsetLeft, slider.offsetWidth];  // read once per size: reading forces a layout
    const left = Math.round(track[0] + thumb + fraction * (track[1] - 2 * thumb)) + "px";
    if (mark.style.left !== left) mark.style.left = left;
    mark.hidden = false;
    root.dataset.delayMark = then.toFixed(2);
  }
  let track = null;
  new ResizeObserver(() => { track = null; if (player.info) placeMark(Number(root.dataset.playerTime || 0)); }).observe(slider);

  function follow() {  // while the media plays: the slider and the brain follow it
    player.raf = 0;
    if (!player.media || player.media.paused) return;
    const time = player.media.currentTime;
    hooks.setFrame(frameAt(time));
    showWords(time);
    player.raf = requestAnimationFrame(follow);
  }

  function makeMedia(info) {
    const media = document.createElement(info.kind === "audio" ? "audio" : "video");
    media.className = "nfv-media-element";
    media.controls = true;
    media.preload = "auto";
    media.playsInline = true;
    media.src = info.media;
    media.addEventListener("play", () => { hooks.playing(true); if (!player.raf) player.raf = requestAnimationFrame(follow); });
    media.addEventListener("pause", () => hooks.playing(false));
    media.addEventListener("ended", () => hooks.playing(false));
    media.addEventListener("seeked", () => {  // the media's own controls seek too: the brain follows
      if (player.media === media && media.paused) { hooks.setFrame(frameAt(media.currentTime)); showWords(media.currentTime); }
    });
    media.addEventListener("error", () => {
      root.dataset.player = "error";
      note.textContent = "This browser cannot play " + info.media.split("/").pop() + "; the brain plays alone. " +
        (player.info ? player.info.delay_note : "");
    });
    return media;
  }

  return {
    // A new prediction (info: value.player or null; meta: the prediction's meta).
    load(info, meta) {
      if (player.media) { player.media.pause(); player.media.removeAttribute("src"); player.media.load(); }
      player.media = null;
      player.shownKey = "";
      slot.replaceChildren();
      for (const node of [nowWords, thenWords]) { node.replaceChildren(); node.dataset.key = ""; }
      player.info = info && meta && !meta.map && (info.media || info.words.length) ? info : null;
      mark.hidden = true;
      if (!player.info) {
        // A map (no time) in place of a prediction with a player keeps the player's room, so that the brain
        // keeps its size between the two; else the brain takes the whole width.
        const keepRoom = !!(meta && meta.map) && !box.hidden;
        box.hidden = !keepRoom;
        root.dataset.player = "none";
        slot.hidden = true;
        for (const row of root.querySelectorAll(".nfv-words-now-row, .nfv-words-then-row")) row.hidden = true;
        note.textContent = keepRoom ? "A map has no time axis: the stimulus player comes back with the prediction." : "";
        source.textContent = "";
        return;
      }
      player.times = meta.times_s;
      box.hidden = false;
      root.dataset.player = info.media ? info.kind : "words";
      root.dataset.delay = String(info.delay_s);
      if (info.media) {
        player.media = makeMedia(info);
        slot.appendChild(player.media);
      }
      slot.hidden = !info.media;
      note.textContent = info.delay_note;
      root.querySelector(".nfv-words-then-row").hidden = !(info.delay_s > 0) || !info.words.length;
      root.querySelector(".nfv-words-then-label").textContent =
        "The brain now responds to ≈ " + info.delay_s.toFixed(0) + " s earlier:";
      root.querySelector(".nfv-words-now-row").hidden = !info.words.length;
      source.textContent = info.words.length ? "Words from " + info.words_from + "." : "No words for this stimulus.";
      showWords(meta.times_s[0] || 0);
    },
    // The viewer's play button: plays the media when there is one (then it drives the brain).
    hasMedia() { return !!player.media && root.dataset.player !== "error"; },
    toggle(rate) {
      if (!player.media) return;
      if (player.media.paused) { player.media.playbackRate = rate; player.media.play().catch(() => hooks.playing(false)); }
      else player.media.pause();
    },
    setRate(rate) { if (player.media) player.media.playbackRate = rate; },
    // The user moved the slider (or pressed an arrow key): the media goes to that frame's time.
    seek(frame) {
      if (!player.info) return;
      const time = player.times[frame];
      if (player.media && Math.abs(player.media.currentTime - time) > 0.05) player.media.currentTime = Math.max(0, time);
      showWords(time);
    },
    // The frame shown changed (any cause): the words follow when the media is not driving.
    shown(frame) {
      if (player.info && (!player.media || player.media.paused)) showWords(player.times[frame]);
    },
    get media() { return player.media; },
  };
}
