from podgroup_operator.cli import main

main()
