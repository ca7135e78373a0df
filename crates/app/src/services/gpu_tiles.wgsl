// A layer's tiles coloured on the GPU, straight from the tap's buffer: the same value range,
// box averaging and 256-entry colormap as the CPU path (crates/app/src/view.rs `pixels`,
// crates/maps/src/norm.rs, crates/maps/src/colormap.rs). Three entry points, one dispatch each:
// `channel_ranges` (one workgroup per channel: finite min and max), `layer_range` (one
// workgroup: their union, in slot C) and `colour` (one invocation per texel of the atlas:
// columns x rows of tiles, channel c at column c % columns, row c / columns).

struct Params {
    // channels, height, width, box-averaging factor k
    shape: vec4<u32>,
    // element strides of channel, row, column; element offset of the tap
    strides: vec4<u32>,
    // atlas columns, tile width, tile height, colormap index
    grid: vec4<u32>,
    // mode (0 per tile, 1 per layer, 2 fixed), symmetric (0/1)
    mode: vec4<u32>,
    // fixed lo, hi
    fixed: vec4<f32>,
}

@group(0) @binding(0) var<storage, read> src: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> luts: array<u32>;
@group(0) @binding(3) var<storage, read_write> ranges: array<vec2<f32>>;
@group(0) @binding(4) var out: texture_storage_2d<rgba8unorm, write>;

// f32::MAX: a channel with no finite value keeps (BIG, -BIG), lo > hi.
const BIG: f32 = 3.40282347e+38;
// The CPU path's INVALID_COLOR (magenta) for NaN.
const INVALID: vec4<f32> = vec4<f32>(1.0, 0.0, 1.0, 1.0);

fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

fn is_finite(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7f800000u) != 0x7f800000u;
}

fn at(c: u32, y: u32, x: u32) -> f32 {
    return src[p.strides.w + c * p.strides.x + y * p.strides.y + x * p.strides.z];
}

var<workgroup> lo_part: array<f32, 64>;
var<workgroup> hi_part: array<f32, 64>;

// The union of the 64 invocations' (lo, hi), returned to each of them.
fn workgroup_range(i: u32, lo: f32, hi: f32) -> vec2<f32> {
    lo_part[i] = lo;
    hi_part[i] = hi;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s >>= 1u) {
        if (i < s) {
            lo_part[i] = min(lo_part[i], lo_part[i + s]);
            hi_part[i] = max(hi_part[i], hi_part[i + s]);
        }
        workgroupBarrier();
    }
    return vec2<f32>(lo_part[0], hi_part[0]);
}

// Finite min and max of channel `wg.x`; (+inf, -inf) when it has no finite value.
@compute @workgroup_size(64)
fn channel_ranges(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
    let c = wg.x;
    let n = p.shape.y * p.shape.z;
    var lo = BIG;
    var hi = -BIG;
    for (var j = i; j < n; j += 64u) {
        let v = at(c, j / p.shape.z, j % p.shape.z);
        if (is_finite(v)) {
            lo = min(lo, v);
            hi = max(hi, v);
        }
    }
    let r = workgroup_range(i, lo, hi);
    if (i == 0u) {
        ranges[c] = r;
    }
}

// The union of every channel's range, into slot C.
@compute @workgroup_size(64)
fn layer_range(@builtin(local_invocation_index) i: u32) {
    var lo = BIG;
    var hi = -BIG;
    for (var c = i; c < p.shape.x; c += 64u) {
        lo = min(lo, ranges[c].x);
        hi = max(hi, ranges[c].y);
    }
    let r = workgroup_range(i, lo, hi);
    if (i == 0u) {
        ranges[p.shape.x] = r;
    }
}

// `PreparedNorm::range` then `ValueRange::sanitized`.
fn value_range(c: u32) -> vec2<f32> {
    var r: vec2<f32>;
    if (p.mode.x == 2u) {
        r = p.fixed.xy;
    } else {
        r = ranges[select(c, p.shape.x, p.mode.x == 1u)];
        if (r.x > r.y) {
            // No finite value: the CPU path's (0, 0).
            r = vec2<f32>(0.0, 0.0);
        }
    }
    var lo = r.x;
    var hi = r.y;
    if (p.mode.y == 1u && is_finite(lo) && is_finite(hi)) {
        let m = max(abs(lo), abs(hi));
        lo = -m;
        hi = m;
    }
    if (!is_finite(lo) || !is_finite(hi)) {
        return vec2<f32>(0.0, 1.0);
    }
    if (lo > hi) {
        let t = lo;
        lo = hi;
        hi = t;
    }
    if (lo < hi) {
        return vec2<f32>(lo, hi);
    }
    let half = max(abs(lo) * 1e-3, 1e-6);
    let a = lo - half;
    let b = lo + half;
    if (a < b) {
        return vec2<f32>(a, b);
    }
    return vec2<f32>(-1.0, 1.0);
}

// The mean of the k x k block (cut at the map's edge) tile texel (ox, oy) stands for, summed
// row by row as the CPU path does.
fn box_mean(c: u32, ox: u32, oy: u32) -> f32 {
    let k = p.shape.w;
    let y1 = min((oy + 1u) * k, p.shape.y);
    let x1 = min((ox + 1u) * k, p.shape.z);
    var sum = 0.0;
    var n = 0.0;
    for (var y = oy * k; y < y1; y++) {
        for (var x = ox * k; x < x1; x++) {
            sum += at(c, y, x);
            n += 1.0;
        }
    }
    return sum / max(n, 1.0);
}

@compute @workgroup_size(8, 8)
fn colour(@builtin(global_invocation_id) id: vec3<u32>) {
    let size = textureDimensions(out);
    if (id.x >= size.x || id.y >= size.y) {
        return;
    }
    let tw = p.grid.y;
    let th = p.grid.z;
    let c = (id.y / th) * p.grid.x + id.x / tw;
    let ox = id.x % tw;
    let oy = id.y % th;
    if (c >= p.shape.x || ox * p.shape.w >= p.shape.z || oy * p.shape.w >= p.shape.y) {
        textureStore(out, vec2<i32>(id.xy), vec4<f32>(0.0));
        return;
    }
    let v = box_mean(c, ox, oy);
    if (is_nan(v)) {
        textureStore(out, vec2<i32>(id.xy), INVALID);
        return;
    }
    let r = value_range(c);
    let span = r.y - r.x;
    var t = 0.5;
    if (span > 0.0 && is_finite(span)) {
        t = clamp((v - r.x) / span, 0.0, 1.0);
    }
    let index = min(u32(floor(t * 255.0 + 0.5)), 255u);
    let rgba = luts[p.grid.w * 256u + index];
    let rgb = vec3<f32>(f32(rgba & 0xffu), f32((rgba >> 8u) & 0xffu), f32((rgba >> 16u) & 0xffu));
    textureStore(out, vec2<i32>(id.xy), vec4<f32>(rgb / 255.0, 1.0));
}
