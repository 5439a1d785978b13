from inference_tracker.cli import main

main()
