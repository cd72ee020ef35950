from learnt.cli import main

main()
