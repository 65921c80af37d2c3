//! Simulated time: how many times faster than real time the embedded cluster runs, and how it
//! slows down when it cannot keep that pace.
//!
//! Every simulated duration (probe periods and timeouts, start-up, back-off, grace periods,
//! app latencies) becomes real time through a [`SimClock`]. An adaptive clock also watches how
//! late the cluster's own work runs — probes against their schedule, controller syncs against
//! the changes that queued them — and when that lag says the asked speed cannot be kept, it
//! slows simulated time down; once the lag clears it speeds up again, never past the speed
//! asked.
//!
//! Why slow down rather than run late: a cluster that runs late at full speed is one whose
//! probes time out for its own slowness, whose pods flap between ready and not, every flap a
//! status write, an endpoints update and more work — it collapses. Slower simulated time means
//! fewer probes per real second, so the same cluster stays correct, and the speed it actually
//! runs at is reported ([`SimClock::speed`], [`SimClock::pace`]) instead of pretended.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often an adaptive clock looks at the lag and decides on its speed.
const GOVERN_EVERY: Duration = Duration::from_millis(500);

/// A probe may start this late, as a share of its period, before the node counts as behind
/// (a kubelet with probes a quarter of a period late is not keeping its schedule).
const PROBE_LAG_BUDGET: f64 = 0.25;

/// Controllers may react this late, in simulated time, before they count as behind. A real
/// kube-controller-manager reacts within milliseconds; a second is far enough that a rollout's
/// waits, measured in seconds, are not distorted by it.
const QUEUE_LAG_BUDGET: Duration = Duration::from_secs(1);

/// Below this share of the budget the cluster is taken as having room to speed up.
const CALM: f64 = 0.3;

/// How far an adaptive clock may slow down, as a share of `min(asked, 1)`.
const FLOOR_SHARE: f64 = 0.1;

/// At most one report of the pace per this much real time: a cluster near its limit slows
/// and recovers every few seconds, and a line for each swing would bury everything else it
/// prints. The latest pace is reported once the gap has passed, so none is lost for long.
const REPORT_GAP: Duration = Duration::from_secs(10);

/// A point on the simulated clock: simulated time since the clock started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimInstant(Duration);

impl SimInstant {
    /// Simulated time from the clock's start to this point.
    pub fn since_start(self) -> Duration {
        self.0
    }

    pub fn saturating_duration_since(self, earlier: SimInstant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl std::ops::Add<Duration> for SimInstant {
    type Output = SimInstant;

    fn add(self, d: Duration) -> SimInstant {
        SimInstant(self.0.saturating_add(d))
    }
}

/// The speed a clock runs at, as reported when it changes noticeably.
#[derive(Debug, Clone, PartialEq)]
pub struct Pace {
    /// Simulated seconds per real second now.
    pub speed: f64,
    /// The speed asked for.
    pub asked: f64,
    /// What made the clock slow down (the lag it measured), when it is below the asked speed.
    pub cause: Option<String>,
}

impl Pace {
    /// Whether the clock runs at the speed asked (within rounding).
    pub fn at_asked(&self) -> bool {
        self.speed >= self.asked * 0.995
    }
}

impl std::fmt::Display for Pace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at_asked() {
            write!(f, "running at the {}× asked", self.asked)
        } else {
            write!(
                f,
                "running at {:.1}× of the {}× asked",
                self.speed, self.asked
            )?;
            if let Some(c) = &self.cause {
                write!(f, " ({c})")?;
            }
            Ok(())
        }
    }
}

/// Where simulated time stands: at `real`, simulated time was `sim`, and it has run at
/// `speed` since.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    real: Instant,
    sim: Duration,
    speed: f64,
}

/// The simulated clock of one cluster (or one standalone node agent).
#[derive(Debug)]
pub struct SimClock {
    asked: f64,
    floor: f64,
    anchor: Mutex<Anchor>,
    /// The current speed, for the hot path (`scaled`) to read without the lock.
    speed_bits: AtomicU64,
    /// Bumped on every speed change, so sleepers recompute their real deadline.
    changed: watch::Sender<u64>,
    /// Noticeable speed changes, for whoever reports them.
    pace: watch::Sender<Pace>,
    /// Probe start lag as a share of the probe's period, in thousandths.
    probe_lag: LagMeter,
    /// Controller queue lag, real microseconds.
    queue_lag: LagMeter,
}

/// A speed that is finite and positive, else 1.
fn sane(speed: f64) -> f64 {
    if speed.is_finite() && speed > 0.0 {
        speed
    } else {
        1.0
    }
}

impl SimClock {
    fn new(asked: f64, floor: f64) -> SimClock {
        let asked = sane(asked);
        SimClock {
            asked,
            floor,
            anchor: Mutex::new(Anchor {
                real: Instant::now(),
                sim: Duration::ZERO,
                speed: asked,
            }),
            speed_bits: AtomicU64::new(asked.to_bits()),
            changed: watch::channel(0).0,
            pace: watch::channel(Pace {
                speed: asked,
                asked,
                cause: None,
            })
            .0,
            probe_lag: LagMeter::default(),
            queue_lag: LagMeter::default(),
        }
    }

    /// A clock that keeps `speed` whatever the lag (unit tests, tools that set their own pace).
    pub fn fixed(speed: f64) -> Arc<SimClock> {
        let speed = sane(speed);
        Arc::new(SimClock::new(speed, speed))
    }

    /// A clock that starts at `asked` and slows down when the cluster cannot keep up. Needs a
    /// Tokio runtime: the task that governs the speed ends when the clock is dropped.
    pub fn adaptive(asked: f64) -> Arc<SimClock> {
        let asked = sane(asked);
        let clock = Arc::new(SimClock::new(asked, asked.min(1.0) * FLOOR_SHARE));
        tokio::spawn(govern(Arc::downgrade(&clock)));
        clock
    }

    /// The speed asked for.
    pub fn asked(&self) -> f64 {
        self.asked
    }

    /// The speed simulated time runs at now: the asked one, or less when the cluster could not
    /// keep it.
    pub fn speed(&self) -> f64 {
        f64::from_bits(self.speed_bits.load(Ordering::Relaxed))
    }

    /// The latest noticeable change of speed, and the changes to come.
    pub fn pace(&self) -> watch::Receiver<Pace> {
        self.pace.subscribe()
    }

    /// The real time a simulated duration takes at the current speed.
    pub fn scaled(&self, simulated: Duration) -> Duration {
        Duration::try_from_secs_f64(simulated.as_secs_f64() / self.speed()).unwrap_or(Duration::MAX)
    }

    /// Now, on the simulated clock.
    pub fn now(&self) -> SimInstant {
        let a = *self.anchor.lock().unwrap_or_else(|p| p.into_inner());
        let real = a.real.elapsed().as_secs_f64();
        SimInstant(
            a.sim
                .saturating_add(Duration::from_secs_f64(real * a.speed)),
        )
    }

    /// Simulated time since `earlier`.
    pub fn since(&self, earlier: SimInstant) -> Duration {
        self.now().saturating_duration_since(earlier)
    }

    /// Waits for a simulated duration, following speed changes on the way.
    pub async fn sleep(&self, simulated: Duration) {
        self.sleep_until(self.now() + simulated).await;
    }

    /// Waits until a point on the simulated clock, following speed changes on the way: a
    /// deadline set at ten times speed is not met early when the clock has slowed since.
    pub async fn sleep_until(&self, at: SimInstant) {
        let mut changes = self.changed.subscribe();
        loop {
            let left = at.saturating_duration_since(self.now());
            // Tokio's timer never wakes early, so what remains here is float rounding.
            if left <= Duration::from_micros(1) {
                return;
            }
            let real = self.scaled(left);
            tokio::select! {
                _ = tokio::time::sleep(real) => {}
                changed = changes.changed() => {
                    if changed.is_err() {
                        tokio::time::sleep(real).await;
                        return;
                    }
                }
            }
        }
    }

    /// A probe that was due at `due` starts now; `period` is its simulated period.
    pub fn record_probe_start(&self, due: SimInstant, period: Duration) {
        let late = self.since(due).as_secs_f64();
        let share = late / period.as_secs_f64().max(1e-3);
        self.probe_lag.record((share * 1000.0) as u64);
    }

    /// A controller synced a change this long (real time) after the change was made.
    pub fn record_queue_lag(&self, real: Duration) {
        self.queue_lag
            .record(u64::try_from(real.as_micros()).unwrap_or(u64::MAX));
    }

    /// Looks at the lag measured since the last call and sets the speed from it.
    fn govern(&self, g: &mut Governor) {
        let speed = self.speed();
        let probe = self.probe_lag.take_p90().map(|p| p as f64 / 1000.0);
        let queue_real = self.queue_lag.take_p90().map(Duration::from_micros);
        let queue = queue_real.map(|q| q.mul_f64(speed));
        // How far over its budget the worse of the two is (1 = at the budget).
        let probe_pressure = probe.map_or(0.0, |p| p / PROBE_LAG_BUDGET);
        let queue_pressure =
            queue.map_or(0.0, |q| q.as_secs_f64() / QUEUE_LAG_BUDGET.as_secs_f64());
        let pressure = probe_pressure.max(queue_pressure);
        // Whether the lag itself, as measured, shrank by a fifth or more since the last round.
        let shrank = |now: Option<f64>, before: Option<f64>| match (now, before) {
            (Some(n), Some(b)) => n < b * 0.8,
            (None, _) => true,
            (Some(_), None) => false,
        };
        let (probe_raw, queue_raw) = (probe, queue_real.map(|q| q.as_secs_f64()));
        let easing = shrank(probe_raw, g.last_probe) && shrank(queue_raw, g.last_queue);
        (g.last_probe, g.last_queue) = (probe_raw, queue_raw);
        let next = if pressure > 1.0 {
            g.calm_rounds = 0;
            if easing {
                // Work that fell behind at the old speed is still being caught up with; a
                // lag that shrinks says the last slowdown was enough.
                speed
            } else {
                // In proportion to the overrun, but neither timidly nor all at once: the lag
                // of the next round shows whether that was enough.
                (speed * (1.0 / pressure).clamp(0.5, 0.85)).max(self.floor)
            }
        } else if pressure < CALM {
            g.calm_rounds += 1;
            if g.calm_rounds >= 2 {
                (speed * 1.25).min(self.asked)
            } else {
                speed
            }
        } else {
            g.calm_rounds = 0;
            speed
        };
        if next == speed {
            self.report_pace(g);
            return;
        }
        let cause = if probe_pressure >= queue_pressure {
            probe.map(|p| format!("probes start {:.0}% of a period late", p * 100.0))
        } else {
            queue.map(|q| {
                format!(
                    "controllers react {:.1} s of simulated time late",
                    q.as_secs_f64()
                )
            })
        };
        self.set_speed(next);
        if next < self.asked {
            g.cause = cause;
        }
        self.report_pace(g);
    }

    /// Publishes the current pace when it differs noticeably from the last one published
    /// and the last report is at least the governor's gap old.
    fn report_pace(&self, g: &mut Governor) {
        let speed = self.speed();
        let reported = self.pace.borrow().speed;
        // Small steps are not worth a line; getting back to the asked speed always is.
        let noticeable = (speed - reported).abs() > reported * 0.15
            || (speed >= self.asked && reported < self.asked);
        if !noticeable {
            return;
        }
        let now = Instant::now();
        if g.last_report
            .is_some_and(|at| now.saturating_duration_since(at) < g.report_gap)
        {
            return;
        }
        g.last_report = Some(now);
        let pace = Pace {
            speed,
            asked: self.asked,
            cause: if speed < self.asked {
                g.cause.clone()
            } else {
                None
            },
        };
        if pace.at_asked() {
            tracing::info!("embedded cluster {pace}");
        } else {
            tracing::warn!("embedded cluster {pace}");
        }
        self.pace.send_replace(pace);
    }

    fn set_speed(&self, speed: f64) {
        {
            let mut a = self.anchor.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let ran = now.saturating_duration_since(a.real).as_secs_f64() * a.speed;
            *a = Anchor {
                real: now,
                sim: a.sim.saturating_add(Duration::from_secs_f64(ran)),
                speed,
            };
            self.speed_bits.store(speed.to_bits(), Ordering::Relaxed);
        }
        self.changed.send_modify(|n| *n += 1);
    }
}

/// What the governor remembers from one round to the next.
#[derive(Debug)]
struct Governor {
    /// The least real time between two reports of the pace.
    report_gap: Duration,
    /// When the pace was last reported.
    last_report: Option<Instant>,
    /// What made the clock slow down last.
    cause: Option<String>,
    /// Rounds in a row with the lag well within its budget.
    calm_rounds: u32,
    /// The last round's lags as measured: probes' in shares of a period, the controllers'
    /// in real seconds.
    last_probe: Option<f64>,
    last_queue: Option<f64>,
}

impl Governor {
    fn reporting_every(report_gap: Duration) -> Governor {
        Governor {
            report_gap,
            last_report: None,
            cause: None,
            calm_rounds: 0,
            last_probe: None,
            last_queue: None,
        }
    }
}

async fn govern(clock: Weak<SimClock>) {
    let mut tick = tokio::time::interval(GOVERN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut g = Governor::reporting_every(REPORT_GAP);
    loop {
        tick.tick().await;
        let Some(clock) = clock.upgrade() else { return };
        clock.govern(&mut g);
    }
}

/// Counts of recorded values in power-of-two buckets: cheap enough for every probe, and
/// precise enough (within a factor of two) to tell on time from late.
#[derive(Debug)]
struct LagMeter {
    buckets: [AtomicU64; 40],
}

impl Default for LagMeter {
    fn default() -> Self {
        LagMeter {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

impl LagMeter {
    fn record(&self, value: u64) {
        let i = (u64::BITS - value.leading_zeros()) as usize;
        self.buckets[i.min(self.buckets.len() - 1)].fetch_add(1, Ordering::Relaxed);
    }

    /// The 90th percentile since the last call (the upper bound of its bucket), and a fresh
    /// start; None when nothing was recorded.
    fn take_p90(&self) -> Option<u64> {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.swap(0, Ordering::Relaxed))
            .collect();
        let total: u64 = counts.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = total - total / 10;
        let mut seen = 0;
        for (i, n) in counts.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(if i == 0 { 0 } else { (1u64 << i) - 1 });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p90_of_buckets() {
        let m = LagMeter::default();
        assert_eq!(m.take_p90(), None);
        for _ in 0..95 {
            m.record(3);
        }
        for _ in 0..5 {
            m.record(1000);
        }
        assert_eq!(m.take_p90(), Some(3));
        assert_eq!(m.take_p90(), None, "taking starts afresh");
        for _ in 0..20 {
            m.record(1000);
        }
        m.record(0);
        assert_eq!(m.take_p90(), Some(1023));
    }

    #[test]
    fn lagging_probes_slow_the_clock_and_calm_speeds_it_back_up() {
        let clock = SimClock::new(10.0, 0.1);
        let mut g = Governor::reporting_every(Duration::ZERO);
        let due = clock.now();
        // Half a period late, over the quarter allowed.
        for _ in 0..10 {
            clock.probe_lag.record(500);
        }
        clock.govern(&mut g);
        let slowed = clock.speed();
        assert!((5.0..10.0).contains(&slowed), "{slowed}");
        let pace = clock.pace().borrow().clone();
        assert_eq!(pace.speed, slowed);
        assert!(
            pace.to_string().starts_with(&format!(
                "running at {slowed:.1}× of the 10× asked (probes start"
            )),
            "{pace}"
        );
        // On time again: back to the asked speed over a few rounds, never past it.
        for _ in 0..40 {
            clock.record_probe_start(clock.now(), Duration::from_secs(1));
            clock.govern(&mut g);
        }
        assert_eq!(clock.speed(), 10.0);
        assert_eq!(
            clock.pace().borrow().to_string(),
            "running at the 10× asked"
        );
        assert!(clock.now() >= due);
    }

    #[test]
    fn swings_of_pace_are_reported_at_most_once_per_gap() {
        let gap = Duration::from_secs(10);
        let clock = SimClock::new(10.0, 0.1);
        let mut g = Governor::reporting_every(gap);
        let reports = clock.pace();
        // Slows: reported at once.
        clock.probe_lag.record(4000);
        clock.govern(&mut g);
        let first = reports.borrow().clone();
        assert!(!first.at_asked(), "{first}");
        // Slows further within the gap: not reported yet.
        for _ in 0..3 {
            clock.probe_lag.record(8000);
            clock.govern(&mut g);
        }
        assert!(clock.speed() < first.speed * 0.85, "{}", clock.speed());
        assert_eq!(*reports.borrow(), first);
        // Once the gap has passed, the next round reports where the clock is now.
        g.last_report = g.last_report.map(|at| at - gap);
        clock.probe_lag.record(500);
        clock.govern(&mut g);
        let second = reports.borrow().clone();
        assert_eq!(second.speed, clock.speed());
        assert!(second.speed < first.speed, "{second}");
        assert!(second.cause.is_some(), "{second:?}");
    }

    #[test]
    fn a_backlog_being_worked_off_holds_the_speed() {
        let clock = SimClock::new(10.0, 0.1);
        let mut g = Governor::reporting_every(Duration::ZERO);
        // Four periods late: slow down.
        clock.probe_lag.record(4000);
        clock.govern(&mut g);
        let slowed = clock.speed();
        assert!(slowed < 10.0, "{slowed}");
        // Still late, but a quarter of what it was: the slowdown is working.
        clock.probe_lag.record(1000);
        clock.govern(&mut g);
        assert_eq!(clock.speed(), slowed);
        // As late again: not enough after all.
        clock.probe_lag.record(1000);
        clock.govern(&mut g);
        assert!(clock.speed() < slowed);
    }

    #[test]
    fn slow_controllers_slow_the_clock_until_their_lag_fits() {
        let clock = SimClock::new(10.0, 0.1);
        let mut g = Governor::reporting_every(Duration::ZERO);
        // Five real seconds late: a second of simulated time at 0.2×.
        for _ in 0..50 {
            clock.record_queue_lag(Duration::from_secs(5));
            clock.govern(&mut g);
        }
        let speed = clock.speed();
        assert!((0.1..=0.2).contains(&speed), "{speed}");
        assert!(
            clock
                .pace()
                .borrow()
                .cause
                .as_deref()
                .is_some_and(|c| c.starts_with("controllers react")),
            "{:?}",
            clock.pace().borrow()
        );
        // Far later than any speed can make up for: the floor holds.
        for _ in 0..50 {
            clock.record_queue_lag(Duration::from_secs(500));
            clock.govern(&mut g);
        }
        assert_eq!(clock.speed(), 0.1);
    }

    #[test]
    fn a_fixed_clock_keeps_its_speed() {
        let clock = SimClock::fixed(4.0);
        let mut g = Governor::reporting_every(Duration::ZERO);
        clock.probe_lag.record(10_000);
        clock.govern(&mut g);
        assert_eq!(clock.speed(), 4.0);
        assert_eq!(
            clock.scaled(Duration::from_secs(2)),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn simulated_time_is_continuous_across_speed_changes() {
        let clock = SimClock::new(100.0, 1.0);
        let before = clock.now();
        clock.set_speed(1.0);
        let after = clock.now();
        assert!(after >= before);
        // At 1× a millisecond of real time is a millisecond of simulated time, give or take
        // the time the test itself takes.
        assert!(after.saturating_duration_since(before) < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn a_sleep_follows_a_speed_change() {
        let clock = Arc::new(SimClock::new(1.0, 1.0));
        // Ten simulated seconds at 1×; the clock then speeds up a millionfold, and a sleeper
        // that missed the change would still wait its ten real seconds.
        let began = Instant::now();
        let sleeper = {
            let clock = clock.clone();
            tokio::spawn(async move { clock.sleep(Duration::from_secs(10)).await })
        };
        tokio::task::yield_now().await;
        clock.set_speed(1e6);
        tokio::time::timeout(Duration::from_secs(5), sleeper)
            .await
            .expect("woke by the new speed")
            .expect("joins");
        assert!(began.elapsed() < Duration::from_secs(5));
    }
}
