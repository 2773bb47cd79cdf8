(() => {
  const log = [];
  window.pcLog = log;
  const now = () => performance.timeOrigin + performance.now();
  const Native = window.RTCPeerConnection;
  let n = 0;
  window.RTCPeerConnection = function (...args) {
    const pc = new Native(...args);
    const id = n++;
    log.push([now(), id, 'new', '']);
    pc.addEventListener('icecandidate', (e) => log.push([now(), id, 'cand',
      e.candidate ? `${e.candidate.address} ${e.candidate.type}` : 'end']));
    for (const type of ['icegatheringstatechange', 'iceconnectionstatechange', 'connectionstatechange']) {
      pc.addEventListener(type, () => log.push([now(), id, type.replace('statechange', ''),
        type === 'icegatheringstatechange' ? pc.iceGatheringState
          : type === 'iceconnectionstatechange' ? pc.iceConnectionState : pc.connectionState]));
    }
    if (id === 0) {  // the first uplink: its video sender, every 100 ms
      window.upStats = [];
      const timer = setInterval(async () => {
        if (pc.connectionState === 'closed') { clearInterval(timer); return; }
        for (const s of (await pc.getStats()).values()) {
          if (s.type === 'outbound-rtp' && s.kind === 'video') {
            window.upStats.push([now(), s.packetsSent, s.framesEncoded, s.keyFramesEncoded,
              s.targetBitrate, s.qualityLimitationReason, s.pliCount, s.nackCount]);
          }
        }
      }, 100);
    }
    const close = pc.close.bind(pc);
    pc.close = () => { log.push([now(), id, 'close', '']); close(); };
    return pc;
  };
  window.RTCPeerConnection.prototype = Native.prototype;
  for (const type of ['online', 'offline']) addEventListener(type, () => log.push([now(), -1, type, '']));
})();
