//! The whole machine's CPU while a bench clock runs: every process counted, the brokers, the
//! contender and the bench alike (the first line of `/proc/stat`, see `proc_stat(5)`). A row's
//! own CPU says what the contender burnt; the machine's says how much of the two cores was left,
//! which is what bounds a copy when the brokers share the cores with it. Shared by the
//! replication bench and the real-cluster checker bench through `#[path]`.

/// The machine's CPU counters at one moment, in seconds summed over every core.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MachineCpu {
    /// user + nice + system + irq + softirq + steal.
    busy: f64,
    /// busy + idle + iowait: the cores' whole capacity since boot.
    all: f64,
}

/// What the machine did between two readings.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct MachineWindow {
    /// CPU seconds burnt, every process and the kernel.
    pub busy_secs: f64,
    /// CPU seconds there were (wall time × cores).
    pub capacity_secs: f64,
}

impl MachineCpu {
    /// The counters now; None where `/proc/stat` cannot be read (not Linux).
    pub fn now() -> Option<MachineCpu> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        Self::parse(stat.lines().next()?)
    }

    /// The aggregate `cpu` line: `cpu user nice system idle iowait irq softirq steal …`
    /// (guest time is already inside user and nice).
    pub fn parse(line: &str) -> Option<MachineCpu> {
        let mut fields = line.split_whitespace();
        if fields.next()? != "cpu" {
            return None;
        }
        let v: Vec<u64> = fields
            .take(8)
            .map(|f| f.parse().ok())
            .collect::<Option<_>>()?;
        if v.len() < 5 {
            return None;
        }
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        let idle = v[3] + v[4];
        let all: u64 = v.iter().sum();
        Some(MachineCpu {
            busy: (all - idle) as f64 / ticks,
            all: all as f64 / ticks,
        })
    }

    /// The window from `earlier` to this reading.
    pub fn since(&self, earlier: &MachineCpu) -> MachineWindow {
        MachineWindow {
            busy_secs: (self.busy - earlier.busy).max(0.0),
            capacity_secs: (self.all - earlier.all).max(0.0),
        }
    }
}

impl MachineWindow {
    /// The share of the cores that was busy (0–1).
    pub fn busy_share(&self) -> f64 {
        if self.capacity_secs <= 0.0 {
            0.0
        } else {
            self.busy_secs / self.capacity_secs
        }
    }

    /// CPU seconds the whole machine burnt per 10^9 bytes moved in the window.
    pub fn per_gb(&self, bytes: u64) -> Option<f64> {
        (bytes > 0).then(|| self.busy_secs / (bytes as f64 / 1e9))
    }

    /// Two windows' sum (rounds of the same way, for one figure over all of them).
    pub fn plus(&self, other: &MachineWindow) -> MachineWindow {
        MachineWindow {
            busy_secs: self.busy_secs + other.busy_secs,
            capacity_secs: self.capacity_secs + other.capacity_secs,
        }
    }
}

/// The largest share of a ceiling a workload can reach on a saturated machine when the rest
/// of the machine (brokers, other processes) already burns `others_per_gb` CPU seconds per GB
/// it moves, against a ceiling measured at `ceiling_per_gb` with its machine `ceiling_busy`
/// busy: the rates are cores ÷ CPU per GB, so the ratio is `ceiling_per_gb ÷ (others_per_gb ×
/// ceiling_busy)`.
pub fn reachable_share(ceiling_per_gb: f64, ceiling_busy: f64, others_per_gb: f64) -> f64 {
    if others_per_gb <= 0.0 || ceiling_busy <= 0.0 {
        return f64::INFINITY;
    }
    ceiling_per_gb / (others_per_gb * ceiling_busy)
}
