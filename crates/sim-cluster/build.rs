//! Marks the tests that read `../shared` as ignored when it is absent (outside CI).
fn main() {
    sim_testkit::gate_shared_tests(&[
        "calibration/vidur/data/profiling",
        "calibration/aiconfigurator",
    ]);
}
