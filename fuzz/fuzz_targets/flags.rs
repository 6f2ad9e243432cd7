//! The flags parser with the master's table: arguments (NUL-separated in the input) and the
//! typed values they become.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mesos_master::MasterFlags;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let args: Vec<String> = text.split('\0').map(str::to_string).collect();
    if let Ok(f) = libprocess::flags::load("mesos-master", MasterFlags::FLAGS, args, |_| None) {
        if let Ok(m) = MasterFlags::from_flags(&f) {
            let _ = m.validate();
            let _ = m.flag_values();
        }
    }
});
