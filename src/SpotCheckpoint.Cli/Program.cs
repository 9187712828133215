return await SpotCheckpoint.Cli.CliApp.RunAsync(args);
