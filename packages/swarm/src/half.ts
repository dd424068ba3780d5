// TEMPORARY until @slimswarm/protocol exports its f16 helpers.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function f32ToF16Bits(v: Float32Array): Uint16Array {
  const out = new Uint16Array(v.length);
  for (let i = 0; i < v.length; i++) {
    f32[0] = v[i]!;
    const x = u32[0]!;
    const sign = (x >>> 16) & 0x8000;
    const exp = (x >>> 23) & 0xff;
    const mant = x & 0x7fffff;
    let h: number;
    if (exp === 0xff) h = sign | 0x7c00 | (mant ? 0x200 : 0);
    else {
      const e = exp - 127 + 15;
      if (e >= 0x1f) h = sign | 0x7c00;
      else if (e <= 0) {
        if (e < -10) h = sign;
        else {
          const m = mant | 0x800000;
          const shift = 14 - e;
          let hm = m >>> shift;
          const rem = m & ((1 << shift) - 1);
          const half = 1 << (shift - 1);
          if (rem > half || (rem === half && hm & 1)) hm++;
          h = sign | hm;
        }
      } else {
        let hm = mant >>> 13;
        const rem = mant & 0x1fff;
        let he = e;
        if (rem > 0x1000 || (rem === 0x1000 && hm & 1)) {
          hm++;
          if (hm === 0x400) {
            hm = 0;
            he++;
          }
        }
        h = he >= 0x1f ? sign | 0x7c00 : sign | (he << 10) | hm;
      }
    }
    out[i] = h;
  }
  return out;
}

export function f16BitsToF32(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) {
    const x = h[i]!;
    const sign = x & 0x8000 ? -1 : 1;
    const e = (x >>> 10) & 0x1f;
    const m = x & 0x3ff;
    out[i] = e === 0 ? sign * m * 2 ** -24 : e === 0x1f ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}
