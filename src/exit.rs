//! Documented process exit codes, shared by both binaries and the systemd unit.
//!
//! The unit lists [`Exit::Config`] in `RestartPreventExitStatus=`: a bad configuration will not
//! get better by restarting, so systemd must not loop on it. Every other failure is restarted.

/// How a process ends. The numeric values are part of the operator interface; never renumber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done, or a graceful stop completed.
    Success,
    /// 1: a runtime failure (a task died, the graceful stop overran its bound); systemd restarts.
    Failure,
    /// 2: bad command-line arguments (clap's own code).
    Usage,
    /// 78 (`EX_CONFIG` of sysexits.h): the configuration is missing, unreadable or invalid.
    Config,
}

impl Exit {
    /// The numeric exit status.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
            Exit::Config => 78,
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

#[cfg(test)]
mod tests {
    use super::Exit;

    #[test]
    fn codes_are_the_documented_ones() {
        let table = [
            (Exit::Success, 0),
            (Exit::Failure, 1),
            (Exit::Usage, 2),
            (Exit::Config, 78),
        ];
        for (exit, code) in table {
            assert_eq!(exit.code(), code, "{exit:?}");
        }
    }
}
