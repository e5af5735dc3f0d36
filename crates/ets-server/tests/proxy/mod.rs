//! A TCP proxy that breaks connections between the server and PostgreSQL,
//! for the fault tests. While armed it cuts a connection in the middle of a
//! batch, stalls what passes through it, and loses COMMITs in the worst
//! place: the server's side of the connection is closed at once, and the
//! COMMIT reaches PostgreSQL only a moment later, so the server must find
//! out what happened without being able to ask the connection that knew.
//!
//! Every choice comes from one seed (printed by the test, and taken from
//! `ETS_FAULT_SEED` when set, to replay a failure); threads interleave as
//! they will, so a replay repeats the faults' mix, not their exact order.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// One in this many COMMITs is lost.
const LOSE_COMMIT: u64 = 25;
/// One in this many chunks is followed by a cut connection.
const CUT: u64 = 800;
/// One in this many chunks is held back for up to half a second first.
const STALL: u64 = 400;

/// What the proxy did, for the test's report.
#[derive(Default, Debug)]
pub(crate) struct Faults {
    pub(crate) connections: AtomicU64,
    pub(crate) commits_lost: AtomicU64,
    pub(crate) cuts: AtomicU64,
    pub(crate) stalls: AtomicU64,
}

/// A running proxy; it stops accepting when dropped.
pub(crate) struct FaultProxy {
    pub(crate) port: u16,
    armed: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    pub(crate) faults: Arc<Faults>,
}

impl FaultProxy {
    /// Listens on a free local port and forwards to `upstream`, unarmed.
    pub(crate) fn start(upstream: &str, seed: u64) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port for the proxy");
        let port = listener.local_addr().expect("its address").port();
        let armed = Arc::new(AtomicBool::new(false));
        let stopped = Arc::new(AtomicBool::new(false));
        let faults = Arc::new(Faults::default());
        let upstream = upstream.to_owned();
        let (armed_in, stopped_in, faults_in) = (
            Arc::clone(&armed),
            Arc::clone(&stopped),
            Arc::clone(&faults),
        );
        std::thread::spawn(move || {
            for (number, client) in listener.incoming().enumerate() {
                if stopped_in.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                faults_in.connections.fetch_add(1, Ordering::Relaxed);
                let seed = seed ^ (number as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
                let link = Link {
                    client,
                    server,
                    armed: Arc::clone(&armed_in),
                    faults: Arc::clone(&faults_in),
                };
                link.run(seed);
            }
        });
        Self {
            port,
            armed,
            stopped,
            faults,
        }
    }

    /// Starts or stops breaking connections.
    pub(crate) fn arm(&self, armed: bool) {
        self.armed.store(armed, Ordering::SeqCst);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// xorshift64*.
struct Random(u64);

impl Random {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }
}

/// One proxied connection: the server's side and PostgreSQL's.
struct Link {
    client: TcpStream,
    server: TcpStream,
    armed: Arc<AtomicBool>,
    faults: Arc<Faults>,
}

impl Link {
    fn run(self, seed: u64) {
        let (Ok(client), Ok(server)) = (self.client.try_clone(), self.server.try_clone()) else {
            return;
        };
        let answers = Link {
            client,
            server,
            armed: Arc::clone(&self.armed),
            faults: Arc::clone(&self.faults),
        };
        std::thread::spawn(move || answers.pump_answers(seed.rotate_left(17)));
        std::thread::spawn(move || self.pump_requests(seed));
    }

    fn cut(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.server.shutdown(Shutdown::Both);
    }

    /// Server → PostgreSQL.
    fn pump_requests(mut self, seed: u64) {
        let mut random = Random(seed | 1);
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let Ok(read) = self.client.read(&mut buffer) else {
                return self.cut();
            };
            if read == 0 {
                return self.cut();
            }
            let chunk = &buffer[..read];
            if self.armed.load(Ordering::SeqCst) {
                if is_commit(chunk) && random.below(LOSE_COMMIT) == 0 {
                    // The server loses its connection now; PostgreSQL gets
                    // the COMMIT a moment later and commits it.
                    self.faults.commits_lost.fetch_add(1, Ordering::Relaxed);
                    let _ = self.client.shutdown(Shutdown::Both);
                    std::thread::sleep(Duration::from_millis(random.below(300)));
                    let _ = self.server.write_all(chunk);
                    std::thread::sleep(Duration::from_millis(200));
                    return self.cut();
                }
                if random.below(CUT) == 0 {
                    self.faults.cuts.fetch_add(1, Ordering::Relaxed);
                    return self.cut();
                }
                if random.below(STALL) == 0 {
                    self.faults.stalls.fetch_add(1, Ordering::Relaxed);
                    std::thread::sleep(Duration::from_millis(random.below(500)));
                }
            }
            if self.server.write_all(chunk).is_err() {
                return self.cut();
            }
        }
    }

    /// PostgreSQL → server.
    fn pump_answers(mut self, seed: u64) {
        let mut random = Random(seed | 1);
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match self.server.read(&mut buffer) {
                Ok(0) | Err(_) => return self.cut(),
                Ok(read) => read,
            };
            if self.armed.load(Ordering::SeqCst) && random.below(CUT) == 0 {
                self.faults.cuts.fetch_add(1, Ordering::Relaxed);
                return self.cut();
            }
            if self.client.write_all(&buffer[..read]).is_err() {
                return self.cut();
            }
        }
    }
}

/// Whether a chunk carries a simple-protocol `COMMIT` ('Q', its length, the
/// text), as the writer sends it.
fn is_commit(chunk: &[u8]) -> bool {
    chunk.windows(7).any(|window| window == b"COMMIT\0")
}
