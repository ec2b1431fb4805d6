//! SVG charts drawn on the server with `plotters`: no JavaScript and no fonts to ship. Each
//! chart carries a `<title>` for screen readers; pages show the data table beside it. A value
//! of `None` (not applicable, or hidden because too few records stand behind it) is left out
//! of the drawing, never drawn as zero.

use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// Colour-blind-safe palette (Okabe and Ito).
const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];
const INK: RGBColor = RGBColor(40, 40, 40);
const FONT: &str = "sans-serif";

/// One named series of values, one per x position.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub values: Vec<Option<f64>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the chart could not be drawn: {0}")]
pub struct ChartError(String);

fn err<E: std::fmt::Debug>(e: E) -> ChartError {
    ChartError(format!("{e:?}"))
}

fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

fn short(label: &str, max: usize) -> String {
    if label.chars().count() <= max {
        label.to_owned()
    } else {
        let cut: String = label.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}

/// A round upper bound for the value axis.
fn axis_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    let steps = [1.0, 2.0, 2.5, 5.0, 10.0];
    steps
        .iter()
        .map(|s| s * magnitude)
        .find(|v| *v >= max)
        .unwrap_or(max)
}

/// An axis value: whole numbers without decimals.
fn number(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// Add the accessible title and class to the drawn SVG.
fn finish(svg: String, title: &str) -> String {
    let escaped = title
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;");
    match svg.find("<svg") {
        Some(start) => match svg[start..].find('>') {
            Some(end) => {
                let at = start + end;
                format!(
                    "{} role=\"img\" class=\"chart\"><title>{escaped}</title>{}",
                    &svg[..at],
                    &svg[at + 1..]
                )
            }
            None => svg,
        },
        None => svg,
    }
}

/// Horizontal bars, one per category, the first at the top (long category names fit on
/// the left).
pub fn bars(title: &str, unit: &str, bars: &[(String, Option<f64>)]) -> Result<String, ChartError> {
    let n = bars.len().max(1);
    let height = 44 + 26 * n as u32;
    let max = axis_max(bars.iter().filter_map(|b| b.1).fold(0.0, f64::max));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(26)
            .y_label_area_size(200)
            .build_cartesian_2d(0.0..max, 0.0..n as f64)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc(unit)
            .x_labels(5)
            .x_label_formatter(&|v| number(*v))
            .y_labels(0)
            .label_style((FONT, 14).into_font().color(&INK))
            .axis_desc_style((FONT, 14).into_font().color(&INK))
            .draw()
            .map_err(err)?;
        // Row i (from the top) spans [n - i - 1, n - i] on the value axis.
        let row = |i: usize| (n - i - 1) as f64;
        chart
            .draw_series(bars.iter().enumerate().filter_map(|(i, (_, v))| {
                let v = (*v)?;
                Some(Rectangle::new(
                    [(0.0, row(i) + 0.18), (v, row(i) + 0.82)],
                    colour(0).filled(),
                ))
            }))
            .map_err(err)?;
        let style = TextStyle::from((FONT, 14).into_font())
            .color(&INK)
            .pos(Pos::new(HPos::Right, VPos::Center));
        for (i, (label, _)) in bars.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(0.0, row(i) + 0.5));
            root.draw(&Text::new(short(label, 30), (x - 6, y), style.clone()))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(finish(svg, title))
}

/// Vertical stacked bars: one bar per group (e.g. a year), one segment per series.
pub fn stacked(title: &str, unit: &str, groups: &[String], series: &[Series]) -> Result<String, ChartError> {
    let n = groups.len().max(1) as i32;
    let totals: Vec<f64> = (0..groups.len())
        .map(|g| {
            series
                .iter()
                .filter_map(|s| s.values.get(g).copied().flatten())
                .sum()
        })
        .collect();
    let max = axis_max(totals.iter().copied().fold(0.0, f64::max));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(48)
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..max)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .y_label_formatter(&|v| number(*v))
            .y_desc(unit)
            .x_labels(groups.len().max(1))
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => groups.get(*i as usize).cloned().unwrap_or_default(),
                _ => String::new(),
            })
            .label_style((FONT, 14).into_font().color(&INK))
            .axis_desc_style((FONT, 14).into_font().color(&INK))
            .draw()
            .map_err(err)?;
        let mut base = vec![0.0; groups.len()];
        for (k, s) in series.iter().enumerate() {
            let style = colour(k).filled();
            let rects: Vec<Rectangle<(SegmentValue<i32>, f64)>> = (0..groups.len())
                .filter_map(|g| {
                    let v = s.values.get(g).copied().flatten()?;
                    let from = base[g];
                    base[g] += v;
                    let mut r = Rectangle::new(
                        [
                            (SegmentValue::Exact(g as i32), from),
                            (SegmentValue::Exact(g as i32 + 1), from + v),
                        ],
                        style,
                    );
                    r.set_margin(0, 0, 12, 12);
                    Some(r)
                })
                .collect();
            chart
                .draw_series(rects)
                .map_err(err)?
                .label(short(&s.name, 24))
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], style));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(INK.mix(0.3))
            .label_font((FONT, 13).into_font().color(&INK))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(finish(svg, title))
}

/// Lines over ordered positions (e.g. years), with a dot on every known value.
pub fn line(
    title: &str,
    unit: &str,
    x: &[String],
    series: &[Series],
    size: (u32, u32),
) -> Result<String, ChartError> {
    let n = x.len().max(1) as i32;
    let max = axis_max(
        series
            .iter()
            .flat_map(|s| s.values.iter().flatten().copied())
            .fold(0.0, f64::max),
    );
    let small = size.1 < 200;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(22)
            .y_label_area_size(if small { 40 } else { 48 })
            .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..max)
            .map_err(err)?;
        let x_label = |v: &SegmentValue<i32>| match v {
            SegmentValue::CenterOf(i) => x.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        };
        let mut mesh = chart.configure_mesh();
        mesh.disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .y_label_formatter(&|v| number(*v))
            .x_labels(x.len().max(1))
            .y_labels(if small { 3 } else { 6 })
            .x_label_formatter(&x_label)
            .label_style((FONT, 13).into_font().color(&INK));
        if !small {
            mesh.y_desc(unit)
                .axis_desc_style((FONT, 14).into_font().color(&INK));
        }
        mesh.draw().map_err(err)?;
        for (k, s) in series.iter().enumerate() {
            let style = colour(k).stroke_width(2);
            let points: Vec<(SegmentValue<i32>, f64)> = s
                .values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (SegmentValue::CenterOf(i as i32), v)))
                .collect();
            // Known values only are joined: a gap (n/a or hidden) breaks the line.
            let mut run = Vec::new();
            for (i, v) in s.values.iter().enumerate() {
                match v {
                    Some(v) => run.push((SegmentValue::CenterOf(i as i32), *v)),
                    None => {
                        if run.len() > 1 {
                            chart
                                .draw_series(LineSeries::new(run.clone(), style))
                                .map_err(err)?;
                        }
                        run.clear();
                    }
                }
            }
            if run.len() > 1 {
                chart.draw_series(LineSeries::new(run, style)).map_err(err)?;
            }
            let dots = points.into_iter().map(|p| Circle::new(p, 3, colour(k).filled()));
            let drawn = chart.draw_series(dots).map_err(err)?;
            if series.len() > 1 {
                drawn
                    .label(short(&s.name, 24))
                    .legend(move |(x, y)| Rectangle::new([(x, y - 2), (x + 10, y + 2)], colour(k).filled()));
            }
        }
        if series.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .background_style(WHITE.mix(0.85))
                .border_style(INK.mix(0.3))
                .label_font((FONT, 13).into_font().color(&INK))
                .draw()
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(finish(svg, title))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bars_draw_one_rectangle_per_known_value_and_carry_the_title() {
        let svg = bars(
            "Victims & survivors <by sex>",
            "persons",
            &[
                ("Female".into(), Some(12.0)),
                ("Male".into(), Some(7.0)),
                ("Unknown".into(), None),
            ],
        )
        .unwrap();
        assert!(svg.contains("<title>Victims &amp; survivors &lt;by sex&gt;</title>"));
        assert!(svg.contains("role=\"img\""));
        assert!(svg.contains("\nFemale\n") && svg.contains("\nUnknown\n"));
        let filled = svg.matches("fill=\"#0072B2\"").count();
        assert_eq!(filled, 2, "a hidden value is not drawn");
        assert!(
            !svg.contains("style="),
            "no inline styles: the pages' CSP forbids them"
        );
        assert!(
            bars("One", "u", &[("Only".into(), Some(1.0))])
                .unwrap()
                .contains("\nOnly\n")
        );
        assert!(bars("None", "u", &[]).is_ok());
        assert!(line("Empty", "u", &[], &[], (200, 100)).is_ok());
        assert!(stacked("Empty", "u", &[], &[]).is_ok());
    }

    #[test]
    fn stacked_and_line_charts_draw_their_series() {
        let groups: Vec<String> = ["2025", "2026"].iter().map(|s| s.to_string()).collect();
        let series = vec![
            Series {
                name: "Female".into(),
                values: vec![Some(3.0), Some(4.0)],
            },
            Series {
                name: "Male".into(),
                values: vec![Some(2.0), None],
            },
        ];
        let svg = stacked("By sex", "persons", &groups, &series).unwrap();
        assert!(svg.contains("\nFemale\n") && svg.contains("\n2026\n"));
        let svg = line("Trend", "persons", &groups, &series, (300, 140)).unwrap();
        assert!(svg.contains("<circle") && svg.contains("<polyline"));
        assert_eq!(axis_max(0.0), 1.0);
        assert_eq!(axis_max(37.0), 50.0);
        assert_eq!(axis_max(100.0), 100.0);
    }
}
