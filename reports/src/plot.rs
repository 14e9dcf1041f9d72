//! The timeline plot: one lane per controller, broker and (chosen) partition over simulated
//! time, fault periods shaded, elections, fencing, ISR changes and lost writes marked,
//! violations in red. Drawn with plotters to SVG (byte-identical for a scenario and seed) and
//! PNG (with the bundled DejaVu Sans, so it looks the same on every machine).

use crate::model::{
    FaultKind, MarkerKind, Model, NodeLane, NodeState, PartitionLane, ProducerLane, SendOutcome,
};
use crate::trace::{TraceViolation, secs};
use plotters::coord::Shift;
use plotters::element::{Drawable, PointCollection};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeSet;
use std::sync::Once;

/// Which partitions get a lane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionPick {
    /// At most this many: the most eventful (leader, then ISR changes), in name order.
    Auto(usize),
    All,
    /// These, by name (`orders-0`).
    Names(Vec<String>),
}

impl Default for PartitionPick {
    fn default() -> Self {
        PartitionPick::Auto(DEFAULT_PARTITIONS)
    }
}

/// Partitions drawn when nobody chose: enough to see failover, few enough to read.
pub const DEFAULT_PARTITIONS: usize = 8;

/// What to draw and how.
#[derive(Clone, Debug)]
pub struct PlotOptions {
    pub title: String,
    pub partitions: PartitionPick,
    pub width: u32,
    pub theme: Theme,
    /// The time window drawn: from `from_us` to `to_us` (the run's end when none).
    pub from_us: u64,
    pub to_us: Option<u64>,
    /// Text and lanes this many times their usual size (for slides).
    pub font_scale: f64,
    /// The image's height; the partitions' HW and LEO strips take what is over or under the
    /// height the drawing needs (none: that height).
    pub height: Option<u32>,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            title: String::new(),
            partitions: PartitionPick::default(),
            width: 1400,
            theme: Theme::LIGHT,
            from_us: 0,
            to_us: None,
            font_scale: 1.0,
            height: None,
        }
    }
}

/// The colours of what is drawn on the background (the coloured bars keep theirs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Theme {
    pub background: RGBColor,
    pub fg: RGBColor,
    pub muted: RGBColor,
    /// Behind the offsets and the producers' outcomes.
    pub strip: RGBColor,
}

impl Theme {
    pub const LIGHT: Theme = Theme {
        background: RGBColor(0xff, 0xff, 0xff),
        fg: BLACK_TEXT,
        muted: GREY_TEXT,
        strip: RGBColor(0xf4, 0xf4, 0xf4),
    };
    /// For slides on a dark background.
    pub const DARK: Theme = Theme {
        background: RGBColor(0x1b, 0x1d, 0x22),
        fg: RGBColor(0xe8, 0xe8, 0xe8),
        muted: RGBColor(0xa8, 0xa8, 0xa8),
        strip: RGBColor(0x2c, 0x2f, 0x36),
    };
}

/// The time window `options` draws of `model`: (from, to), at least 1 µs wide.
pub fn window(model: &Model, options: &PlotOptions) -> (u64, u64) {
    let end = options
        .to_us
        .unwrap_or(model.end_us)
        .min(model.end_us.max(1));
    let from = options.from_us.min(end.saturating_sub(1));
    (from, end.max(from + 1))
}

/// The x of time `t` on an axis from `x0` (at `from`) to `x1` (at `to`), clamped.
fn axis_x(t: u64, (from, to): (u64, u64), (x0, x1): (i32, i32)) -> i32 {
    let t = t.clamp(from, to);
    x0 + (((t - from) as f64 / (to - from) as f64) * f64::from(x1 - x0)).round() as i32
}

/// The partitions `pick` selects, in name order. Unknown names are reported.
pub fn pick_partitions<'m>(
    model: &'m Model,
    pick: &PartitionPick,
) -> Result<Vec<&'m PartitionLane>, PlotError> {
    match pick {
        PartitionPick::All => Ok(model.partitions.iter().collect()),
        PartitionPick::Names(names) => names
            .iter()
            .map(|n| {
                model
                    .partitions
                    .iter()
                    .find(|p| p.name == *n)
                    .ok_or_else(|| {
                        let known: Vec<&str> =
                            model.partitions.iter().map(|p| p.name.as_str()).collect();
                        PlotError::UnknownPartition {
                            name: n.clone(),
                            known: known.join(", "),
                        }
                    })
            })
            .collect(),
        PartitionPick::Auto(max) => {
            let mut ranked: Vec<(usize, &PartitionLane)> =
                model.partitions.iter().enumerate().collect();
            ranked.sort_by_key(|(i, p)| {
                (
                    std::cmp::Reverse(p.leader_changes),
                    std::cmp::Reverse(p.isr_changes),
                    *i,
                )
            });
            let mut chosen: Vec<usize> = ranked.iter().take(*max).map(|(i, _)| *i).collect();
            chosen.sort_unstable();
            Ok(chosen.into_iter().map(|i| &model.partitions[i]).collect())
        }
    }
}

const FONT: &str = "sans-serif";
static DEJAVU: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

/// Registers the bundled font once (plotters keeps fonts process-wide).
fn register_font() {
    REGISTER.call_once(|| {
        // The font is compiled in and known good; failing here is a build problem.
        plotters::style::register_font(FONT, FontStyle::Normal, DEJAVU)
            .unwrap_or_else(|_| panic!("the bundled DejaVu Sans does not load"));
    });
}

const LABEL_W: i32 = 200;
const RIGHT: i32 = 40;

/// Where everything goes, in pixels and font sizes, at a font scale (1 by default): the lanes
/// grow with their text. Text sizes are in the font's units (plotters draws size 14 about
/// 11.3 px tall): at scale 1 the smallest text is at least 11 px.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Layout {
    scale: f64,
    small: u32,
    name: u32,
    title: u32,
    /// Where the first section starts.
    top: i32,
    lane_h: i32,
    lane_gap: i32,
    header_h: i32,
    fault_row_h: i32,
    violation_row_h: i32,
    /// A partition: the leader bar, the ISR bar, then the offsets strip, as (top, bottom)
    /// within its lane, and the lane's whole height.
    leader_bar: (i32, i32),
    isr_bar: (i32, i32),
    offsets: (i32, i32),
    part_h: i32,
    /// A producer lane: a row each for ok, info and fail.
    producer_h: i32,
    legend_row_h: i32,
    note_row_h: i32,
}

impl Layout {
    /// The layout at `scale` with partition offsets strips `offsets_h` pixels tall (none: the
    /// default height).
    fn new(scale: f64, offsets_h: Option<i32>) -> Layout {
        let px = |v: i32| (f64::from(v) * scale).round() as i32;
        let size = |v: u32| (f64::from(v) * scale).round() as u32;
        let offsets_h = offsets_h.unwrap_or(px(45));
        let offsets = (px(43), px(43) + offsets_h);
        Layout {
            scale,
            small: size(14),
            name: size(15),
            title: size(22),
            top: px(40),
            lane_h: px(20),
            lane_gap: px(5),
            header_h: px(22),
            fault_row_h: px(19),
            violation_row_h: px(18),
            leader_bar: (0, px(20)),
            isr_bar: (px(22), px(40)),
            offsets,
            part_h: offsets.1 + px(8),
            producer_h: px(24) / 3 * 3,
            legend_row_h: px(21),
            note_row_h: px(18),
        }
    }

    /// `v` pixels at this scale.
    fn px(&self, v: i32) -> i32 {
        (f64::from(v) * self.scale).round() as i32
    }
}

fn rgb(hex: u32) -> RGBColor {
    RGBColor((hex >> 16) as u8, (hex >> 8) as u8, hex as u8)
}

pub fn node_color(state: NodeState) -> RGBColor {
    rgb(match state {
        NodeState::Leader => 0x1b7837,
        NodeState::Follower => 0xa6dba0,
        NodeState::Candidate => 0xf4a261,
        NodeState::Prospective => 0xf6e8a6,
        NodeState::Unattached => 0xe0e0e0,
        NodeState::Resigned => 0xbdbdbd,
        NodeState::Running => 0x91cf60,
        NodeState::Fenced => 0xfc8d59,
        NodeState::ShuttingDown => 0xfee08b,
        NodeState::Paused => 0x92c5de,
        NodeState::Crashed => 0xd73027,
        NodeState::PowerLost => 0x7b3294,
        NodeState::DiskLost => 0x40004b,
        NodeState::ShutDown => 0x878787,
    })
}

pub fn fault_color(kind: FaultKind) -> RGBColor {
    rgb(match kind {
        FaultKind::Crash => 0xd73027,
        FaultKind::PowerLoss => 0x7b3294,
        FaultKind::DiskLoss => 0x40004b,
        FaultKind::Shutdown => 0x636363,
        FaultKind::Partition => 0x2166ac,
        FaultKind::OneWay => 0x35978f,
        FaultKind::Pause => 0x4393c3,
        FaultKind::Slow => 0xbf812d,
    })
}

/// A leader's colour: one per broker id, offline (no leader) red.
pub fn leader_color(leader: Option<u64>) -> RGBColor {
    const PALETTE: [u32; 10] = [
        0x4e79a7, 0xf28e2b, 0x59a14f, 0xb07aa1, 0x76b7b2, 0xedc948, 0xff9da7, 0x9c755f, 0xe15759,
        0xbab0ac,
    ];
    match leader {
        None => rgb(0xd7191c),
        Some(id) => rgb(PALETTE[(id as usize + PALETTE.len() - 1) % PALETTE.len()]),
    }
}

fn isr_color(isr: usize, replicas: usize) -> RGBColor {
    rgb(if isr == 0 {
        0xd7191c
    } else if isr >= replicas {
        0xb8e186
    } else if isr == 1 {
        0xfdae61
    } else {
        0xfee08b
    })
}

/// Where each violated invariant's name goes: (name, x, row). Each sits at its first
/// violation (pulled left to fit the image), in the first row it does not overlap.
fn violation_labels<'v>(
    violations: &'v [TraceViolation],
    x: &impl Fn(u64) -> i32,
    width: i32,
    size: u32,
) -> Vec<(&'v str, i32, i32)> {
    let mut seen = BTreeSet::new();
    let mut row_end: Vec<i32> = Vec::new();
    let mut out = Vec::new();
    for v in violations {
        if !seen.insert(v.invariant.as_str()) {
            continue;
        }
        let w = text_width(&v.invariant, size);
        let lx = (x(v.t_us) + 3).min(width - w - 6);
        let row = match row_end.iter().position(|&end| end + 6 < lx) {
            Some(r) => r,
            None => {
                row_end.push(i32::MIN);
                row_end.len() - 1
            }
        };
        row_end[row] = lx + w;
        out.push((v.invariant.as_str(), lx, row as i32));
    }
    out
}

fn violation_rows(labels: &[(&str, i32, i32)]) -> i32 {
    labels.iter().map(|(_, _, r)| r + 1).max().unwrap_or(1)
}

/// A text's width in pixels in the bundled font, the same for every backend.
fn text_width(s: &str, size: u32) -> i32 {
    FontDesc::new(FontFamily::Name(FONT), f64::from(size), FontStyle::Normal)
        .box_size(s)
        .map_or(s.chars().count() as i32 * size as i32 * 6 / 10, |(w, _)| {
            w as i32
        })
}

/// Lays out fault spans in rows so labels do not overlap; returns each span's row.
fn fault_rows(model: &Model, x: &impl Fn(u64) -> i32, label_w: impl Fn(&str) -> i32) -> Vec<usize> {
    let mut row_end: Vec<i32> = Vec::new();
    model
        .faults
        .iter()
        .map(|f| {
            let x0 = x(f.from_us);
            let x1 = x(f.to_us).max(x0 + label_w(&f.label) + 6);
            match row_end.iter().position(|&end| end < x0) {
                Some(r) => {
                    row_end[r] = x1;
                    r
                }
                None => {
                    row_end.push(x1);
                    row_end.len() - 1
                }
            }
        })
        .collect()
}

/// A "nice" tick step in seconds for `span` seconds: at most about 14 ticks, for any span (an
/// hour times 1, 2 or 5 times a power of ten past half an hour).
fn tick_step(span_s: f64) -> f64 {
    const STEPS: [f64; 14] = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
    ];
    if let Some(step) = STEPS.iter().copied().find(|s| span_s / s <= 14.0) {
        return step;
    }
    let mut hours = 1.0;
    loop {
        for m in [1.0, 2.0, 5.0] {
            let step = 3600.0 * hours * m;
            if span_s / step <= 14.0 || !step.is_finite() {
                return step;
            }
        }
        hours *= 10.0;
    }
}

/// Why a timeline could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// `--partitions` named a partition the run does not have.
    #[error("no partition {name:?} in this run (it has {known})")]
    UnknownPartition { name: String, known: String },
    #[error(
        "a {width}x{height} PNG is too large to draw; choose fewer partitions (--partitions) or \
         draw an SVG"
    )]
    TooLarge { width: u32, height: u32 },
    #[error(
        "a height of {height} px is too short for this timeline: it needs at least {needed} px \
         (choose fewer partitions with --partitions, or a smaller --font-scale)"
    )]
    TooShort { height: u32, needed: u32 },
    #[error("drawing the timeline: {0}")]
    Draw(String),
    #[error("encoding the PNG: {0}")]
    Encode(String),
}

/// Where the time axis runs across a timeline `width` pixels wide: the x of t = 0 and the x
/// of the run's end (the HTML report puts its cursor on the image by these).
pub fn time_axis(width: u32) -> (i32, i32) {
    (LABEL_W, width as i32 - RIGHT)
}

/// A drawing area with the timeline's time axis: where each moment goes across the width.
struct Canvas<'r, DB: DrawingBackend> {
    root: &'r DrawingArea<DB, Shift>,
    /// The full width, and the lanes' left and right edges.
    width: i32,
    x0: i32,
    x1: i32,
    /// The time window drawn (`end` at least 1 µs after `start`).
    start: u64,
    end: u64,
    theme: Theme,
    l: Layout,
}

const BLACK_TEXT: RGBColor = RGBColor(0x20, 0x20, 0x20);
const GREY_TEXT: RGBColor = RGBColor(0x70, 0x70, 0x70);

impl<DB: DrawingBackend> Canvas<'_, DB> {
    /// The x of time `t`.
    fn x(&self, t: u64) -> i32 {
        axis_x(t, (self.start, self.end), (self.x0, self.x1))
    }

    /// Whether `from..to` overlaps the window drawn.
    fn shows(&self, from: u64, to: u64) -> bool {
        to >= self.start && from <= self.end
    }

    fn put<E>(&self, element: &E) -> Result<(), PlotError>
    where
        for<'b> &'b E: PointCollection<'b, (i32, i32)>,
        E: Drawable<DB>,
    {
        self.root
            .draw(element)
            .map_err(|e| PlotError::Draw(e.to_string()))
    }

    /// Text in the bundled font at `pos` (its top left unless `anchor` says otherwise).
    fn text(
        &self,
        words: impl Into<String>,
        pos: (i32, i32),
        size: u32,
        color: RGBColor,
        anchor: Option<(HPos, VPos)>,
    ) -> Result<(), PlotError> {
        let mut style = (FONT, size).into_font().color(&color);
        if let Some((h, v)) = anchor {
            style = style.pos(Pos::new(h, v));
        }
        self.put(&Text::new(words.into(), pos, style))
    }

    /// A lane's name, right-aligned in the label column.
    fn lane_name(&self, name: &str, y: i32, size: u32, color: RGBColor) -> Result<(), PlotError> {
        let anchor = Some((HPos::Right, VPos::Center));
        self.text(name, (self.x0 - 8, y), size, color, anchor)
    }

    /// Words inside a bar from `sx0` to `sx1`, only if they fit.
    fn words_in_bar(
        &self,
        words: String,
        (sx0, sx1): (i32, i32),
        y: i32,
        size: u32,
        color: RGBColor,
    ) -> Result<(), PlotError> {
        if text_width(&words, size) + 6 >= sx1 - sx0 {
            return Ok(());
        }
        let anchor = Some((HPos::Left, VPos::Center));
        self.text(words, (sx0 + 3, y), size, color, anchor)
    }

    fn section_title(&self, title: impl Into<String>, y: i32) -> Result<(), PlotError> {
        self.text(title, (12, y + 2), self.l.name, self.theme.muted, None)
    }
}

/// Where each lane was drawn: (its name, top, height), for the shading and the markers.
type LanePlaces = Vec<(String, i32, i32)>;

/// Draws the timeline on any plotters backend. The height is [`height`]'s.
pub fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    model: &Model,
    violations: &[TraceViolation],
    options: &PlotOptions,
) -> Result<(), PlotError> {
    register_font();
    let partitions = pick_partitions(model, &options.partitions)?;
    let width = options.width as i32;
    let (x0, x1) = time_axis(options.width);
    let (start, end) = window(model, options);
    let (l, _) = layout(model, violations, options)?;
    let c = Canvas {
        l,
        root,
        width,
        x0,
        x1,
        start,
        end,
        theme: options.theme,
    };
    root.fill(&options.theme.background)
        .map_err(|e| PlotError::Draw(e.to_string()))?;
    let title = if options.title.is_empty() {
        "kafkasim timeline"
    } else {
        options.title.as_str()
    };
    c.text(title, (12, c.l.px(10)), c.l.title, c.theme.fg, None)?;
    let lanes_top = c.l.top;
    let mut y = draw_violation_labels(&c, violations, lanes_top)?;
    y = draw_note_markers(&c, model, y)?;
    y = draw_fault_bars(&c, model, y)?;
    let shade_top = y;
    let mut lanes = LanePlaces::new();
    y = draw_node_section(&c, y, "controllers", &model.controllers, &mut lanes)?;
    y = draw_node_section(&c, y, "brokers", &model.brokers, &mut lanes)?;
    y = draw_producers(&c, y, &model.producers, &mut lanes)?;
    if !partitions.is_empty() {
        let shown = if partitions.len() < model.partitions.len() {
            format!(
                "partitions ({} of {}: the most eventful)",
                partitions.len(),
                model.partitions.len()
            )
        } else {
            "partitions".to_string()
        };
        c.section_title(shown, y)?;
        y += c.l.header_h;
    }
    if model.partitions.len() > 1 {
        y = draw_health(&c, model, y)?;
    }
    for p in &partitions {
        lanes.push((p.name.clone(), y, c.l.part_h - 8));
        draw_partition(&c, p, y)?;
        y += c.l.part_h;
    }
    let lanes_bottom = y;
    draw_fault_shading(&c, model, &lanes, (shade_top, lanes_bottom))?;
    draw_markers(&c, model, &lanes)?;
    // Violations: red lines across every lane.
    for v in violations.iter().filter(|v| c.shows(v.t_us, v.t_us)) {
        let vx = c.x(v.t_us);
        c.put(&PathElement::new(
            vec![(vx, lanes_top + c.l.header_h - 2), (vx, lanes_bottom)],
            rgb(0xc00000).mix(0.7).stroke_width(1),
        ))?;
    }
    y = draw_time_axis(&c, lanes_bottom + c.l.px(4), model.end_us)?;
    y = draw_legend(&c, model, y)?;
    draw_note_list(&c, model, y)?;
    root.present().map_err(|e| PlotError::Draw(e.to_string()))
}

/// Violations: one red label per invariant, at its first violation, packed in rows. Returns
/// the y below them.
fn draw_violation_labels<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    violations: &[TraceViolation],
    y: i32,
) -> Result<i32, PlotError> {
    c.section_title("violations", y)?;
    let labels = violation_labels(violations, &|t| c.x(t), c.width, c.l.small);
    for (name, lx, row) in &labels {
        let pos = (*lx, y + 2 + row * c.l.violation_row_h);
        c.text(*name, pos, c.l.small, rgb(0xc00000), None)?;
    }
    Ok(y + violation_rows(&labels) * c.l.violation_row_h + c.l.header_h - c.l.violation_row_h)
}

/// Faults: labelled bars, packed in rows. Returns the y below them.
fn draw_fault_bars<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    model: &Model,
    y: i32,
) -> Result<i32, PlotError> {
    let rows = fault_rows(model, &|t| c.x(t), |s| text_width(s, c.l.small));
    let rows_n = rows.iter().max().map_or(0, |r| r + 1) as i32;
    c.section_title("faults", y)?;
    for (f, row) in model.faults.iter().zip(&rows) {
        if !c.shows(f.from_us, f.to_us) {
            continue;
        }
        let fy = y + *row as i32 * c.l.fault_row_h;
        let (fx0, fx1) = (c.x(f.from_us), c.x(f.to_us).max(c.x(f.from_us) + 2));
        c.put(&Rectangle::new(
            [(fx0, fy + 2), (fx1, fy + c.l.fault_row_h - 2)],
            fault_color(f.kind).mix(0.35).filled(),
        ))?;
        c.text(
            f.label.clone(),
            (fx0 + 3, fy + 2),
            c.l.small,
            c.theme.fg,
            None,
        )?;
    }
    Ok(y + rows_n.max(1) * c.l.fault_row_h + 6)
}

/// A titled section of node lanes (controllers or brokers): each state a coloured bar, named
/// where it fits. Records where each lane went; returns the y below the section.
fn draw_node_section<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    mut y: i32,
    title: &str,
    lanes: &[NodeLane],
    places: &mut LanePlaces,
) -> Result<i32, PlotError> {
    c.section_title(title, y)?;
    y += c.l.header_h;
    for lane in lanes {
        places.push((lane.name.clone(), y, c.l.lane_h));
        c.lane_name(&lane.name, y + c.l.lane_h / 2, c.l.name, c.theme.fg)?;
        for s in &lane.segments {
            let (sx0, sx1) = (c.x(s.from_us), c.x(s.to_us));
            if sx1 <= sx0 {
                continue;
            }
            c.put(&Rectangle::new(
                [(sx0, y), (sx1, y + c.l.lane_h)],
                node_color(s.state).filled(),
            ))?;
            if sx0 > c.x0 {
                // Where one state gives way to the next, even in the same colour.
                c.put(&PathElement::new(
                    vec![(sx0, y), (sx0, y + c.l.lane_h)],
                    c.theme.background.stroke_width(1),
                ))?;
            }
            let color = if s.state == NodeState::Leader || s.state == NodeState::DiskLost {
                WHITE
            } else {
                BLACK_TEXT
            };
            c.words_in_bar(
                segment_words(s),
                (sx0, sx1),
                y + c.l.lane_h / 2,
                c.l.small,
                color,
            )?;
        }
        y += c.l.lane_h + c.l.lane_gap;
    }
    Ok(y)
}

/// What a node lane's bar says: the state, and its label where it matters.
fn segment_words(s: &crate::model::Segment) -> String {
    match s.state {
        NodeState::Leader | NodeState::Candidate | NodeState::Prospective => {
            format!("{} {}", s.state.name(), s.label)
        }
        NodeState::Crashed
        | NodeState::PowerLost
        | NodeState::DiskLost
        | NodeState::ShutDown
        | NodeState::Paused
            if !s.label.is_empty() =>
        {
            format!("{}, {}", s.state.name(), s.label)
        }
        state => state.name().to_string(),
    }
}

/// The lane of every partition's health together. Returns the y below it.
fn draw_health<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    model: &Model,
    y: i32,
) -> Result<i32, PlotError> {
    let label = format!("all {} partitions", model.partitions.len());
    c.lane_name(&label, y + c.l.lane_h / 2, c.l.name, c.theme.fg)?;
    for h in health(model) {
        let (sx0, sx1) = (c.x(h.from_us), c.x(h.to_us));
        if sx1 <= sx0 {
            continue;
        }
        let color = if h.offline > 0 {
            isr_color(0, 1)
        } else if h.under_replicated > 0 {
            isr_color(1, 2)
        } else {
            isr_color(1, 1)
        };
        c.put(&Rectangle::new(
            [(sx0, y), (sx1, y + c.l.lane_h)],
            color.filled(),
        ))?;
        let words = if h.offline + h.under_replicated == 0 {
            "all fully replicated".to_string()
        } else {
            format!(
                "{} under-replicated, {} offline",
                h.under_replicated, h.offline
            )
        };
        c.words_in_bar(words, (sx0, sx1), y + c.l.lane_h / 2, c.l.small, BLACK_TEXT)?;
    }
    Ok(y + c.l.lane_h + c.l.lane_gap + 4)
}

/// One partition's lane at `y`: leader and epoch; ISR (and ELR); the HW and every replica's
/// LEO.
fn draw_partition<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    p: &PartitionLane,
    y: i32,
) -> Result<(), PlotError> {
    c.lane_name(&p.name, y + c.l.leader_bar.1 / 2, c.l.name, c.theme.fg)?;
    c.lane_name(
        "ISR, ELR",
        y + (c.l.isr_bar.0 + c.l.isr_bar.1) / 2,
        c.l.small,
        c.theme.muted,
    )?;
    c.lane_name(
        "HW, each LEO",
        y + (c.l.offsets.0 + c.l.offsets.1) / 2,
        c.l.small,
        c.theme.muted,
    )?;
    let replicas = p.replicas.max(1);
    for s in &p.segments {
        let (sx0, sx1) = (c.x(s.from_us), c.x(s.to_us));
        if sx1 <= sx0 {
            continue;
        }
        c.put(&Rectangle::new(
            [(sx0, y + c.l.leader_bar.0), (sx1, y + c.l.leader_bar.1)],
            leader_color(s.leader).filled(),
        ))?;
        let who = s
            .leader
            .map_or_else(|| "offline".to_string(), |l| format!("broker-{l}"));
        let words = format!("{who} e{}", s.leader_epoch);
        c.words_in_bar(
            words,
            (sx0, sx1),
            y + c.l.leader_bar.1 / 2,
            c.l.small,
            WHITE,
        )?;
        c.put(&Rectangle::new(
            [(sx0, y + c.l.isr_bar.0), (sx1, y + c.l.isr_bar.1)],
            isr_color(s.isr.len(), replicas).filled(),
        ))?;
        let ids = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join(",");
        let mut words = format!("ISR [{}]", ids(&s.isr));
        if !s.elr.is_empty() {
            words.push_str(&format!(" ELR [{}]", ids(&s.elr)));
        }
        let mid = y + (c.l.isr_bar.0 + c.l.isr_bar.1) / 2;
        c.words_in_bar(words, (sx0, sx1), mid, c.l.small, BLACK_TEXT)?;
    }
    draw_offsets(c, p, y)
}

/// The HW (black, thick) and each replica's LEO (its broker's colour) as steps under a
/// partition's bars, scaled to its largest offset and drawn to the end of the run: where a
/// LEO climbs above a flat HW, records are written but not committed.
fn draw_offsets<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    p: &PartitionLane,
    y: i32,
) -> Result<(), PlotError> {
    let window = |series: &[(u64, u64)]| in_window(series, c.start, c.end);
    let leos: Vec<(u64, Vec<(u64, u64)>)> = p
        .replica_leos
        .iter()
        .map(|(b, series)| (*b, window(series)))
        .collect();
    let hw = window(&p.hw);
    let top = leos
        .iter()
        .flat_map(|(_, s)| s)
        .chain(&hw)
        .map(|(_, o)| *o)
        .max()
        .unwrap_or(0)
        .max(1);
    let (py0, py1) = (y + c.l.offsets.0, y + c.l.offsets.1);
    let py = |o: u64| py1 - ((o as f64 / top as f64) * f64::from(py1 - py0)).round() as i32;
    c.put(&Rectangle::new(
        [(c.x0, py0), (c.x1, py1)],
        c.theme.strip.filled(),
    ))?;
    for (broker, series) in &leos {
        let points = steps(series, &|t| c.x(t), &py, c.end);
        if points.len() > 1 {
            let color = leader_color(Some(*broker));
            c.put(&PathElement::new(points, color.stroke_width(1)))?;
        }
    }
    let points = steps(&hw, &|t| c.x(t), &py, c.end);
    if points.len() > 1 {
        c.put(&PathElement::new(points, c.theme.fg.stroke_width(2)))?;
    }
    let anchor = Some((HPos::Left, VPos::Top));
    c.text(
        format!("{top}"),
        (c.x1 + 2, py0),
        c.l.small,
        c.theme.muted,
        anchor,
    )
}

/// A lane per producer: a tick in the top row where sends were acknowledged, the middle where
/// they were indeterminate, the bottom where they failed (Jepsen's ok, info, fail), a pixel
/// column at a time. Returns the y below the section.
fn draw_producers<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    mut y: i32,
    producers: &[ProducerLane],
    places: &mut LanePlaces,
) -> Result<i32, PlotError> {
    if producers.is_empty() {
        return Ok(y);
    }
    c.section_title("producers: acknowledged / indeterminate / failed", y)?;
    y += c.l.header_h;
    let row_h = c.l.producer_h / 3;
    for lane in producers {
        places.push((lane.name.clone(), y, c.l.producer_h));
        let name = format!("{} acks={}", lane.name, lane.acks.join(","));
        c.lane_name(&name, y + c.l.producer_h / 2, c.l.name, c.theme.fg)?;
        c.put(&Rectangle::new(
            [(c.x0, y), (c.x1, y + c.l.producer_h)],
            c.theme.strip.filled(),
        ))?;
        for (row, outcome) in [SendOutcome::Ok, SendOutcome::Info, SendOutcome::Fail]
            .into_iter()
            .enumerate()
        {
            let mut columns: BTreeSet<i32> = BTreeSet::new();
            for (t, o) in &lane.sends {
                if *o == outcome {
                    columns.insert(c.x(*t));
                }
            }
            let ry = y + row as i32 * row_h;
            for (x0, x1) in runs(&columns) {
                c.put(&Rectangle::new(
                    [(x0, ry + 1), (x1 + 1, ry + row_h - 1)],
                    outcome_color(outcome).filled(),
                ))?;
            }
        }
        y += c.l.producer_h + c.l.lane_gap;
    }
    Ok(y)
}

/// Consecutive columns as (first, last) runs.
fn runs(columns: &BTreeSet<i32>) -> Vec<(i32, i32)> {
    let mut out: Vec<(i32, i32)> = Vec::new();
    for &x in columns {
        match out.last_mut() {
            Some((_, last)) if *last + 1 >= x => *last = x,
            _ => out.push((x, x)),
        }
    }
    out
}

/// Jepsen's colours: ok green, info orange, fail red.
pub fn outcome_color(o: SendOutcome) -> RGBColor {
    rgb(match o {
        SendOutcome::Ok => 0x1a9641,
        SendOutcome::Info => 0xf08c00,
        SendOutcome::Fail => 0xd7191c,
    })
}

/// The notes inside the window drawn, each with its index (its number is the index + 1, in
/// and out of a window).
fn notes_shown(
    model: &Model,
    (start, end): (u64, u64),
) -> impl Iterator<Item = (usize, &(u64, String))> {
    model
        .notes
        .iter()
        .enumerate()
        .filter(move |(_, (t, _))| (start..=end).contains(t))
}

/// The scenario's notes: a numbered marker at each note's time. Returns the y below them.
fn draw_note_markers<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    model: &Model,
    y: i32,
) -> Result<i32, PlotError> {
    if notes_shown(model, (c.start, c.end)).next().is_none() {
        return Ok(y);
    }
    c.section_title("notes", y)?;
    // Markers closer than their own width go side by side, to the right.
    let mut free = c.x0;
    for (i, (t, _)) in notes_shown(model, (c.start, c.end)) {
        let (cx, cy) = (c.x(*t).max(free), y + c.l.px(9));
        free = cx + c.l.px(18);
        let r = c.l.px(8).max(1) as u32;
        c.put(&Circle::new((cx, cy), r, rgb(0x1f5fbf).filled()))?;
        let anchor = Some((HPos::Center, VPos::Center));
        let size = (12.0 * c.l.scale).round() as u32;
        c.text(format!("{}", i + 1), (cx, cy), size, WHITE, anchor)?;
    }
    Ok(y + c.l.note_row_h + c.l.px(4))
}

/// The notes' texts under the legend, one line each, cut to the width.
fn draw_note_list<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    model: &Model,
    y: i32,
) -> Result<(), PlotError> {
    for (row, (i, (t, text))) in notes_shown(model, (c.start, c.end)).enumerate() {
        let line = fit(
            &format!("{}  t={}  {}", i + 1, secs(*t), text),
            c.width - 24,
            c.l.small,
        );
        c.text(
            line,
            (12, y + row as i32 * c.l.note_row_h),
            c.l.small,
            c.theme.fg,
            None,
        )?;
    }
    Ok(())
}

/// `s`, cut with an ellipsis to fit `width` pixels of small text.
fn fit(s: &str, width: i32, size: u32) -> String {
    if text_width(s, size) <= width {
        return s.to_string();
    }
    let mut cut: String = s.to_string();
    while !cut.is_empty() && text_width(&format!("{cut}…"), size) > width {
        cut.pop();
    }
    format!("{cut}…")
}

/// Fault periods shaded over the lanes they touch, or over every lane (from `top` to `bottom`)
/// for network faults.
fn draw_fault_shading<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    model: &Model,
    lanes: &LanePlaces,
    (top, bottom): (i32, i32),
) -> Result<(), PlotError> {
    for f in model.faults.iter().filter(|f| c.shows(f.from_us, f.to_us)) {
        let (fx0, fx1) = (c.x(f.from_us), c.x(f.to_us).max(c.x(f.from_us) + 2));
        if matches!(f.kind, FaultKind::Partition | FaultKind::OneWay) {
            c.put(&Rectangle::new(
                [(fx0, top), (fx1, bottom)],
                fault_color(f.kind).mix(0.12).filled(),
            ))?;
            continue;
        }
        for (name, ly, h) in lanes {
            if f.nodes.contains(name) {
                c.put(&Rectangle::new(
                    [(fx0, *ly - 2), (fx1, *ly + *h + 2)],
                    ShapeStyle::from(&fault_color(f.kind)).stroke_width(1),
                ))?;
            }
        }
    }
    Ok(())
}

/// The markers (elections, fencing, ISR changes, truncations, lost writes) on their lanes.
fn draw_markers<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    model: &Model,
    lanes: &LanePlaces,
) -> Result<(), PlotError> {
    for m in model.markers.iter().filter(|m| c.shows(m.t_us, m.t_us)) {
        let Some((_, ly, h)) = lanes.iter().find(|(n, _, _)| *n == m.lane) else {
            continue;
        };
        let mx = c.x(m.t_us);
        let (ly, h) = (*ly, *h);
        match m.kind {
            MarkerKind::Election => c.put(&Polygon::new(
                vec![(mx, ly - 4), (mx + 4, ly), (mx, ly + 4), (mx - 4, ly)],
                c.theme.fg.filled(),
            )),
            MarkerKind::Fenced => c.put(&Polygon::new(
                vec![(mx - 4, ly - 4), (mx + 4, ly - 4), (mx, ly + 3)],
                rgb(0xd95f02).filled(),
            )),
            MarkerKind::Unfenced => c.put(&Polygon::new(
                vec![(mx - 4, ly + 3), (mx + 4, ly + 3), (mx, ly - 4)],
                rgb(0x1b9e77).filled(),
            )),
            MarkerKind::IsrChange => c.put(&PathElement::new(
                vec![(mx, ly + 19), (mx, ly + 33)],
                BLACK_TEXT.stroke_width(2),
            )),
            MarkerKind::Truncation => c.put(&Cross::new(
                (mx, ly + h - 4),
                4,
                rgb(0x7b3294).stroke_width(2),
            )),
            MarkerKind::AckedLost => c.put(&Circle::new(
                (mx, ly + h / 2),
                6,
                rgb(0xc00000).stroke_width(2),
            )),
        }?;
    }
    Ok(())
}

/// The time axis at `y`, ticked in seconds. Returns the y below it.
/// `run_end` is when the run ended, to say whether the window is all of it.
fn draw_time_axis<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    y: i32,
    run_end: u64,
) -> Result<i32, PlotError> {
    c.put(&PathElement::new(
        vec![(c.x0, y), (c.x1, y)],
        c.theme.fg.stroke_width(1),
    ))?;
    let (start_s, end_s) = (c.start as f64 / 1e6, c.end as f64 / 1e6);
    let step = tick_step(end_s - start_s);
    let mut k = (start_s / step - 1e-9).ceil().max(0.0) as u64;
    loop {
        let t_s = k as f64 * step;
        if t_s > end_s + 1e-9 {
            break;
        }
        let tx = c.x((t_s * 1e6).round() as u64);
        c.put(&PathElement::new(
            vec![(tx, y), (tx, y + c.l.px(5))],
            c.theme.fg.stroke_width(1),
        ))?;
        let label = if step < 1.0 {
            format!("{t_s:.1}s")
        } else {
            format!("{}s", t_s.round() as u64)
        };
        let anchor = Some((HPos::Center, VPos::Top));
        c.text(label, (tx, y + c.l.px(7)), c.l.small, c.theme.fg, anchor)?;
        k += 1;
    }
    let caption = if c.start > 0 || c.end < run_end {
        format!("simulated time, {} to {}", secs(c.start), secs(c.end))
    } else {
        format!("simulated time (run ends at {})", secs(c.end))
    };
    c.text(
        caption,
        (c.x0, y + c.l.px(26)),
        c.l.small,
        c.theme.muted,
        None,
    )?;
    Ok(y + c.l.px(44))
}

/// The legend of colours the run used, then the marker symbols.
fn draw_legend<DB: DrawingBackend>(
    c: &Canvas<'_, DB>,
    model: &Model,
    y: i32,
) -> Result<i32, PlotError> {
    let items = legend_items(model, c.theme.fg);
    let layout = legend_layout(&items, c.width, c.l.small);
    for ((label, color), (lx, row)) in items.iter().zip(&layout) {
        let (lx, y) = (*lx, y + row * c.l.legend_row_h);
        c.put(&Rectangle::new(
            [(lx, y + 1), (lx + c.l.px(14), y + c.l.px(14))],
            color.filled(),
        ))?;
        c.text(
            label.clone(),
            (lx + c.l.px(18), y),
            c.l.small,
            c.theme.fg,
            None,
        )?;
    }
    let y = y + legend_rows(&layout) * c.l.legend_row_h;
    let symbols = fit(SYMBOLS, c.width - 24, c.l.small);
    c.text(symbols, (12, y), c.l.small, c.theme.fg, None)?;
    Ok(y + c.l.legend_row_h + 6)
}

const SYMBOLS: &str = "◆ election   ▼ fenced   ▲ unfenced   | ISR change   × truncation   ○ acked writes lost   red line: invariant violated";

fn legend_rows(layout: &[(i32, i32)]) -> i32 {
    layout.last().map_or(0, |(_, row)| row + 1)
}

/// How many partitions were under-replicated (ISR smaller than the replicas) and offline (no
/// leader) in one period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    pub from_us: u64,
    pub to_us: u64,
    pub under_replicated: usize,
    pub offline: usize,
}

/// The cluster's partition health over time, from every partition (drawn or not).
pub fn health(model: &Model) -> Vec<Health> {
    let mut cuts: BTreeSet<u64> = BTreeSet::new();
    for p in &model.partitions {
        for seg in &p.segments {
            cuts.insert(seg.from_us);
            cuts.insert(seg.to_us);
        }
    }
    let cuts: Vec<u64> = cuts.into_iter().collect();
    let mut out: Vec<Health> = Vec::new();
    for w in cuts.windows(2) {
        let (from, to) = (w[0], w[1]);
        let (mut under, mut offline) = (0, 0);
        for p in &model.partitions {
            if let Some(seg) = p
                .segments
                .iter()
                .find(|s| s.from_us <= from && from < s.to_us)
            {
                if seg.leader.is_none() {
                    offline += 1;
                } else if seg.isr.len() < p.replicas {
                    under += 1;
                }
            }
        }
        match out.last_mut() {
            Some(h) if h.under_replicated == under && h.offline == offline && h.to_us == from => {
                h.to_us = to;
            }
            _ => out.push(Health {
                from_us: from,
                to_us: to,
                under_replicated: under,
                offline,
            }),
        }
    }
    out
}

/// The legend: every state a lane can show, then this run's fault kinds and leaders.
fn legend_items(model: &Model, fg: RGBColor) -> Vec<(String, RGBColor)> {
    let used: BTreeSet<NodeState> = model
        .controllers
        .iter()
        .chain(&model.brokers)
        .flat_map(|l| l.segments.iter().filter(|s| s.to_us > s.from_us))
        .map(|s| s.state)
        .collect();
    let mut items: Vec<(String, RGBColor)> = used
        .into_iter()
        .map(|s| (s.name().to_string(), node_color(s)))
        .collect();
    let kinds: BTreeSet<FaultKind> = model.faults.iter().map(|f| f.kind).collect();
    for k in kinds {
        items.push((format!("fault: {}", k.name()), fault_color(k)));
    }
    let leaders: BTreeSet<Option<u64>> = model
        .partitions
        .iter()
        .flat_map(|p| p.segments.iter().map(|s| s.leader))
        .collect();
    for l in leaders {
        let label = l.map_or_else(
            || "offline (no leader)".to_string(),
            |l| format!("leader broker-{l}"),
        );
        items.push((label, leader_color(l)));
    }
    items.push(("ISR full".into(), isr_color(2, 2)));
    items.push(("ISR reduced".into(), isr_color(2, 3)));
    items.push(("ISR of 1".into(), isr_color(1, 3)));
    items.push(("HW (LEOs in their broker's colour)".into(), fg));
    let outcomes: BTreeSet<SendOutcome> = model
        .producers
        .iter()
        .flat_map(|p| p.sends.iter().map(|(_, o)| *o))
        .collect();
    for o in outcomes {
        let name = match o {
            SendOutcome::Ok => "send acknowledged",
            SendOutcome::Info => "send indeterminate",
            SendOutcome::Fail => "send failed",
        };
        items.push((name.into(), outcome_color(o)));
    }
    items
}

/// Where each legend item goes: (x, row), wrapping at the image's width.
fn legend_layout(items: &[(String, RGBColor)], width: i32, size: u32) -> Vec<(i32, i32)> {
    let (mut x, mut row) = (12, 0);
    items
        .iter()
        .map(|(label, _)| {
            // The swatch, a gap, the label and a space, all as wide as the text is large.
            let sw = size as i32;
            let w = sw + sw * 4 / 14 + text_width(label, size) + sw;
            if x + w > width - 12 && x > 12 {
                x = 12;
                row += 1;
            }
            let at = (x, row);
            x += w;
            at
        })
        .collect()
}

/// The samples of a step series inside `start..=end`, led by its value at `start`.
fn in_window(series: &[(u64, u64)], start: u64, end: u64) -> Vec<(u64, u64)> {
    let first = series.partition_point(|(t, _)| *t <= start);
    let mut out: Vec<(u64, u64)> = Vec::new();
    if let Some(&(_, v)) = first.checked_sub(1).map(|i| &series[i]) {
        out.push((start, v));
    }
    out.extend(series[first..].iter().take_while(|(t, _)| *t <= end));
    out
}

/// A step line through `(time, value)` samples, held level to `end`.
fn steps(
    series: &[(u64, u64)],
    x: &impl Fn(u64) -> i32,
    y: &impl Fn(u64) -> i32,
    end: u64,
) -> Vec<(i32, i32)> {
    let mut points: Vec<(i32, i32)> = Vec::with_capacity(series.len() * 2);
    for &(t, v) in series {
        let (px, py) = (x(t), y(v));
        if let Some(&(_, last_y)) = points.last() {
            if last_y == py {
                continue;
            }
            points.push((px, last_y));
        }
        points.push((px, py));
    }
    if let Some(&(last_x, last_y)) = points.last() {
        points.push((x(end).max(last_x), last_y));
    }
    points
}

/// The image's height for `model` with these options.
pub fn height(
    model: &Model,
    violations: &[TraceViolation],
    options: &PlotOptions,
) -> Result<u32, PlotError> {
    layout(model, violations, options).map(|(_, h)| h)
}

/// The layout of `model`'s timeline and the image's height: the height everything needs at
/// the font scale, or `options.height`, the partitions' offsets strips taking the difference.
fn layout(
    model: &Model,
    violations: &[TraceViolation],
    options: &PlotOptions,
) -> Result<(Layout, u32), PlotError> {
    register_font();
    let scale = options.font_scale;
    let natural = Layout::new(scale, None);
    let needed = needed_height(model, violations, options, &natural)?;
    let Some(wanted) = options.height else {
        return Ok((natural, needed as u32));
    };
    let wanted = wanted as i32;
    let partitions = pick_partitions(model, &options.partitions)?.len() as i32;
    let default_h = natural.offsets.1 - natural.offsets.0;
    let offsets_h = if partitions > 0 {
        default_h + (wanted - needed) / partitions
    } else {
        default_h
    };
    let min_h = natural.px(16);
    let shortest = needed - partitions * (default_h - min_h);
    if offsets_h < min_h || wanted < shortest {
        return Err(PlotError::TooShort {
            height: wanted as u32,
            needed: shortest.max(1) as u32,
        });
    }
    Ok((Layout::new(scale, Some(offsets_h)), wanted as u32))
}

/// The height everything needs with layout `l`.
fn needed_height(
    model: &Model,
    violations: &[TraceViolation],
    options: &PlotOptions,
    l: &Layout,
) -> Result<i32, PlotError> {
    let partitions = pick_partitions(model, &options.partitions)?.len() as i32;
    let width = options.width as i32;
    let w = window(model, options);
    let axis = time_axis(options.width);
    let x = |t: u64| axis_x(t, w, axis);
    let violation_h = violation_rows(&violation_labels(violations, &x, width, l.small))
        * l.violation_row_h
        - l.violation_row_h;
    let rows = fault_rows(model, &x, |s| text_width(s, l.small))
        .into_iter()
        .max()
        .map_or(1, |r| r + 1) as i32;
    let nodes = (model.controllers.len() + model.brokers.len()) as i32;
    let producers = model.producers.len() as i32;
    let notes = notes_shown(model, w).count() as i32;
    let legend = legend_layout(&legend_items(model, BLACK_TEXT), width, l.small);
    Ok(l.top
        + l.header_h
        + violation_h
        + if notes > 0 { l.note_row_h + l.px(4) } else { 0 }
        + rows * l.fault_row_h
        + l.px(6)
        + 2 * l.header_h
        + nodes * (l.lane_h + l.lane_gap)
        + if producers > 0 {
            l.header_h + producers * (l.producer_h + l.lane_gap)
        } else {
            0
        }
        + if partitions > 0 { l.header_h } else { 0 }
        + if model.partitions.len() > 1 {
            l.lane_h + l.lane_gap + l.px(4)
        } else {
            0
        }
        + partitions * l.part_h
        + l.px(48)
        + legend_rows(&legend) * l.legend_row_h
        + l.legend_row_h
        + l.px(6)
        + notes * l.note_row_h
        + l.px(12))
}

/// The timeline as SVG text.
pub fn svg(
    model: &Model,
    violations: &[TraceViolation],
    options: &PlotOptions,
) -> Result<String, PlotError> {
    let h = height(model, violations, options)?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (options.width, h)).into_drawing_area();
        draw(&root, model, violations, options)?;
    }
    Ok(out)
}

/// The largest PNG drawn (about 300 MB of pixels in memory).
const MAX_PNG_PIXELS: u64 = 100_000_000;

/// The timeline as PNG bytes.
pub fn png(
    model: &Model,
    violations: &[TraceViolation],
    options: &PlotOptions,
) -> Result<Vec<u8>, PlotError> {
    let h = height(model, violations, options)?;
    let (w, hh) = (options.width, h);
    if u64::from(w) * u64::from(hh) > MAX_PNG_PIXELS {
        return Err(PlotError::TooLarge {
            width: w,
            height: hh,
        });
    }
    let mut rgb_buf = vec![0u8; (w * hh * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut rgb_buf, (w, hh)).into_drawing_area();
        draw(&root, model, violations, options)?;
    }
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, w, hh);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| PlotError::Encode(e.to_string()))?;
        writer
            .write_image_data(&rgb_buf)
            .map_err(|e| PlotError::Encode(e.to_string()))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_axis_has_a_few_ticks_whatever_the_span() {
        // A trace ending at t = 2^64-1 us once looped here, tick after tick of an hour.
        for span_s in [
            0.05,
            1.0,
            60.0,
            3_600.0,
            86_400.0 * 7.0,
            1e9,
            u64::MAX as f64 / 1e6,
        ] {
            let step = tick_step(span_s);
            assert!(span_s / step <= 14.0, "{span_s} s in steps of {step} s");
        }
        assert_eq!(tick_step(60.0), 5.0);
    }
    use crate::model::PartitionSegment;
    use std::collections::BTreeMap;

    fn model(partitions: usize) -> Model {
        Model {
            end_us: 10_000_000,
            controllers: Vec::new(),
            brokers: Vec::new(),
            partitions: (0..partitions)
                .map(|i| PartitionLane {
                    name: format!("t-{i}"),
                    replicas: 3,
                    segments: vec![PartitionSegment {
                        from_us: 0,
                        to_us: 10_000_000,
                        leader: Some(1),
                        leader_epoch: 0,
                        partition_epoch: 0,
                        isr: vec![1, 2, 3],
                        elr: Vec::new(),
                    }],
                    hw: Vec::new(),
                    replica_leos: BTreeMap::new(),
                    leader_changes: i % 3,
                    isr_changes: 0,
                })
                .collect(),
            producers: Vec::new(),
            faults: Vec::new(),
            markers: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn the_default_draws_the_most_eventful_partitions_in_name_order() {
        let m = model(20);
        let picked: Vec<&str> = pick_partitions(&m, &PartitionPick::Auto(4))
            .unwrap()
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(picked, ["t-2", "t-5", "t-8", "t-11"]);
        let err = pick_partitions(&m, &PartitionPick::Names(vec!["x-1".into()])).unwrap_err();
        assert!(
            matches!(&err, PlotError::UnknownPartition { name, .. } if name == "x-1"),
            "{err}"
        );
        assert!(err.to_string().starts_with("no partition \"x-1\""), "{err}");
    }

    /// The lowest point anything in `svg` reaches: rectangle bottoms, text tops plus their
    /// size, line and polygon points.
    fn lowest_point(svg: &str) -> f64 {
        let attr = |tag: &str, name: &str| -> Option<f64> {
            let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
            tag[at..].split('"').next()?.parse().ok()
        };
        let mut lowest: f64 = 0.0;
        for tag in svg.split('<').skip(1) {
            let tag = tag.split('>').next().unwrap_or("");
            if tag.starts_with("rect") {
                lowest =
                    lowest.max(attr(tag, "y").unwrap_or(0.0) + attr(tag, "height").unwrap_or(0.0));
            } else if tag.starts_with("text") {
                lowest = lowest
                    .max(attr(tag, "y").unwrap_or(0.0) + attr(tag, "font-size").unwrap_or(0.0));
            } else if let Some(at) = tag.find("points=\"") {
                for point in tag[at + 8..]
                    .split('"')
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                {
                    let y = point
                        .split(',')
                        .nth(1)
                        .and_then(|y| y.parse().ok())
                        .unwrap_or(0.0);
                    lowest = lowest.max(y);
                }
            }
        }
        lowest
    }

    #[test]
    fn the_computed_height_holds_everything_drawn() {
        // Many overlapping faults, many violated invariants, every leader colour, a narrow
        // image: the rows that wrap must all be counted by `height`.
        let mut m = model(12);
        for (i, p) in m.partitions.iter_mut().enumerate() {
            p.segments[0].leader = Some(i as u64 % 10 + 1);
        }
        m.faults = (0..9)
            .map(|i| crate::model::FaultSpan {
                from_us: i * 500_000,
                to_us: 6_000_000,
                kind: FaultKind::Slow,
                nodes: vec!["broker-1".into()],
                label: format!("slow link number {i}"),
            })
            .collect();
        let violations: Vec<TraceViolation> = (0..8)
            .map(|i| TraceViolation {
                t_us: 9_000_000,
                invariant: format!("some_long_invariant_name_{i}"),
                nodes: Vec::new(),
                explanation: String::new(),
            })
            .collect();
        for width in [400, 700, 1400] {
            let options = PlotOptions {
                partitions: PartitionPick::All,
                width,
                ..PlotOptions::default()
            };
            let h = f64::from(height(&m, &violations, &options).unwrap());
            let drawn = lowest_point(&svg(&m, &violations, &options).unwrap());
            assert!(
                drawn <= h,
                "width {width}: drawn down to {drawn}, image {h} high"
            );
        }
    }

    #[test]
    fn a_png_too_large_to_hold_is_refused_not_drawn() {
        let options = PlotOptions {
            partitions: PartitionPick::All,
            width: 20_000,
            ..PlotOptions::default()
        };
        let err = png(&model(200), &[], &options).unwrap_err();
        assert!(
            matches!(err, PlotError::TooLarge { width: 20_000, .. }),
            "{err}"
        );
        // The SVG has no pixel buffer to hold.
        assert!(svg(&model(200), &[], &options).is_ok());
    }
}
