namespace SpotCheckpoint.Scheduling.Simulation;

// The wasted, checkpoint, lost and restart seconds of one policy, added up over runs into its outcome.
public static partial class CheckpointSimulator
{
    private sealed class Totals
    {
        public double Wall, Wasted, Checkpoint, Lost, Restart, Interruptions, StepsLost, Checkpoints, IntervalSum, IntervalCount;

        public void Add(Totals other)
        {
            Wall += other.Wall;
            Wasted += other.Wasted;
            Checkpoint += other.Checkpoint;
            Lost += other.Lost;
            Restart += other.Restart;
            Interruptions += other.Interruptions;
            StepsLost += other.StepsLost;
            Checkpoints += other.Checkpoints;
            IntervalSum += other.IntervalSum;
            IntervalCount += other.IntervalCount;
        }

        public PolicyOutcome ToOutcome(string name, SimulationOptions o)
        {
            double wasteFraction = Wall > 0 ? Wasted / Wall : 0;
            double runs = o.Runs;
            return new PolicyOutcome
            {
                Name = name,
                WastedFraction = wasteFraction,
                WastedHoursPerRun = Wasted / 3600 / runs,
                CheckpointHoursPerRun = Checkpoint / 3600 / runs,
                LostWorkHoursPerRun = Lost / 3600 / runs,
                RestartHoursPerRun = Restart / 3600 / runs,
                NoticeHoursPerRun = Math.Max(0, Wasted - Checkpoint - Lost - Restart) / 3600 / runs,
                InterruptionsPerRun = Interruptions / runs,
                StepsLostPerInterruption = Interruptions > 0 ? StepsLost / Interruptions : 0,
                CheckpointsPerHour = Wall > 0 ? Checkpoints / (Wall / 3600) : 0,
                MeanIntervalSeconds = IntervalCount > 0 ? IntervalSum / IntervalCount : 0,
                Cost = CostView.For(wasteFraction, o.OnDemandPricePerHour, o.SpotPricePerHour),
            };
        }
    }
}
